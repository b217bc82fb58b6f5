using System.Net.NetworkInformation;

namespace P2V.Netboot.Boot;

/// <summary>
/// The iPXE script a client runs for its <see cref="BootAction"/>. Templates come from ROOT/ipxe/ACTION.ipxe when
/// present (boot/ipxe/ in the repository holds the defaults), else the built-in text below, which matches them.
/// Placeholders: @BASE@ (http://address:port), @SERVER@ (address), @MAC@ (aa:bb:cc:dd:ee:ff), @ROLE@,
/// @ARGS@ (the policy's extra kernel arguments). <c>no_timer_check</c>: a slow or emulated CPU (QEMU under TCG on a
/// busy host) can miss the kernel's IO-APIC timer check, which then panics; the check guards against broken
/// chipsets of long ago, which the agent does not run on. <c>cryptomgr.notests</c>: the kernel's boot-time self-tests of
/// its crypto algorithms (crypto_algapi_init's, about 0.2 s under TCG, initcall_debug) only test the algorithms
/// (module signatures are still checked with them; the agent hashes images in its own code).
/// <c>initcall_blacklist=</c>: two initcalls the agent has no use for that cost 0.35–0.47 s under TCG: the SP800-108
/// KDF's self-test, which runs whatever cryptomgr.notests says (no key type the agent uses derives keys with it),
/// and the boot-time kprobe-event setup (tracing).
/// </summary>
public static class IpxeScript
{
    private const string Image = """
        #!ipxe
        echo P2V: @ROLE@ image for @MAC@
        kernel @BASE@/@ROLE@/vmlinuz initrd=initrd.img console=tty0 console=ttyS0,115200 quiet no_timer_check cryptomgr.notests initcall_blacklist=crypto_kdf108_init,init_kprobe_trace p2v.role=@ROLE@ p2v.server=@SERVER@ p2v.mac=@MAC@ @ARGS@ || goto failed
        initrd @BASE@/@ROLE@/initrd.img || goto failed
        boot
        :failed
        echo P2V: could not load the @ROLE@ image; booting from local disk
        sanboot --no-describe --drive 0x80 || exit
        """;

    private const string Local = """
        #!ipxe
        echo P2V: no job for @MAC@; booting from local disk
        sanboot --no-describe --drive 0x80 || exit
        """;

    public static string FileName(BootAction action) => action switch
    {
        BootAction.Capture => "capture.ipxe",
        BootAction.Deploy => "deploy.ipxe",
        _ => "local.ipxe",
    };

    public static string Render(BootDecision decision, PhysicalAddress mac, string baseUrl, string server, string? templateFolder)
    {
        var action = decision.Action;
        string? path = templateFolder == null ? null : Path.Combine(templateFolder, FileName(action));
        string template = path != null && File.Exists(path) ? File.ReadAllText(path) : action == BootAction.LocalDisk ? Local : Image;
        string role = action == BootAction.Deploy ? "deploy" : "capture";
        return template.Replace("\r\n", "\n")
            .Replace("@BASE@", baseUrl).Replace("@SERVER@", server)
            .Replace("@MAC@", FormatMac(mac)).Replace("@ROLE@", role)
            .Replace("@ARGS@", decision.KernelArguments) + (template.EndsWith('\n') ? "" : "\n");
    }

    public static string FormatMac(PhysicalAddress mac) => string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2")));
}
