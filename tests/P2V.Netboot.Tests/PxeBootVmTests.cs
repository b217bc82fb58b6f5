using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using P2V.Netboot;
using P2V.Netboot.Boot;
using Xunit.Abstractions;

namespace P2V.Netboot.Tests;

/// <summary>
/// iPXE (Debian's ipxe-qemu ROM) in QEMU boots through our DHCP, TFTP and HTTP into the marker image
/// (boot/marker/build-marker.sh: Debian's kernel and a busybox initramfs) and prints the marker line on its serial
/// console. The VM's tap and our veth end share a bridge in a namespace the test creates. QEMU runs under TCG.
/// </summary>
[Trait("Category", "VM")]
public sealed class PxeBootVmTests(ITestOutputHelper output)
{
    private static string RepoRoot([CallerFilePath] string source = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(source)!, "..", ".."));

    /// <param name="proxy">
    /// false: our full DHCP gives the address. true: busybox udhcpd inside the namespace plays the site's DHCP
    /// server and we answer as proxy DHCP only.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ipxe_in_qemu_boots_the_marker_image_over_dhcp_tftp_and_http(bool proxy)
    {
        var marker = ExternalTool.Run(Path.Combine(RepoRoot(), "boot", "marker", "build-marker.sh")).Trim();
        using var root = new TempDirectory();
        Directory.CreateDirectory(root.File("capture"));
        Directory.CreateDirectory(root.File("ipxe"));
        File.Copy(Path.Combine(marker, "vmlinuz"), root.File("capture/vmlinuz"));
        File.Copy(Path.Combine(marker, "initrd.img"), root.File("capture/initrd.img"));
        int tftpPort = DhcpServerTests.FreeUdpPort();
        // The test's template takes the kernel over TFTP and the initramfs over HTTP, so one boot uses all three services.
        var template = File.ReadAllText(Path.Combine(RepoRoot(), "boot", "ipxe", "capture.ipxe"))
            .Replace("kernel @BASE@/@ROLE@/vmlinuz", $"kernel tftp://@SERVER@:{tftpPort}/@ROLE@/vmlinuz");
        File.WriteAllText(root.File("ipxe/capture.ipxe"), template);

        using var net = new TestNetwork(bridgeWithTap: true);
        var log = new List<string>();
        string mac = proxy ? "52:54:00:9e:0b:02" : "52:54:00:9e:0b:01";
        Process? siteDhcp = null;
        try
        {
            if (proxy) siteDhcp = StartSiteDhcp(net, root);
            await using var server = await NetbootServer.StartAsync(new NetbootServerOptions
            {
                Root = root.Path,
                Listen = net.ServerAddress,
                Dhcp = proxy ? DhcpMode.Proxy : DhcpMode.Full,
                RangeStart = net.Address(100),
                RangeEnd = net.Address(120),
                TftpPort = tftpPort,
                HttpPort = FreeTcpPort(),
                Policy = new FixedBootPolicy(BootAction.Capture),
                LeaseFile = root.File("leases.json"),
                ProbeAddresses = false,
            }, new NetbootLog(l => { lock (log) log.Add(l); }));

            var line = await RunVmUntilMarkerAsync(net, mac, TimeSpan.FromMinutes(4));
            Assert.Equal($"P2V-NETBOOT-MARKER role=capture mac={mac}", line);
        }
        finally
        {
            if (siteDhcp != null)
            {
                if (!siteDhcp.HasExited) siteDhcp.Kill(entireProcessTree: true);
                await siteDhcp.WaitForExitAsync();
                siteDhcp.Dispose();
            }
            lock (log) foreach (var l in log) output.WriteLine(l);
        }
        lock (log)
        {
            Assert.Contains(log, l => l.Contains($"dhcp {mac} DISCOVER ipxe"));
            Assert.Contains(log, l => l.Contains(proxy ? $"dhcp {mac} proxy OFFER" : $"dhcp {mac} ACK"));
            Assert.Contains(log, l => l.Contains($"script {mac} Capture"));
            Assert.Contains(log, l => l.Contains("tftp") && l.Contains("done capture/vmlinuz"));
            Assert.Contains(log, l => l.Contains("GET /capture/initrd.img 200"));
        }
    }

    /// <summary>busybox udhcpd on the namespace's bridge: the addresses come from it, not from us.</summary>
    private static Process StartSiteDhcp(TestNetwork net, TempDirectory dir)
    {
        ExternalTool.Run("ip", "-n", net.Namespace, "addr", "add", $"{net.Address(2)}/24", "dev", "br0");
        var conf = dir.File("udhcpd.conf");
        File.WriteAllLines(conf,
        [
            "interface br0",
            $"start {net.Address(150)}",
            $"end {net.Address(160)}",
            $"lease_file {dir.File("udhcpd.leases")}",
            $"pidfile {dir.File("udhcpd.pid")}",
            "opt subnet 255.255.255.0",
            "opt lease 600",
        ]);
        File.WriteAllText(dir.File("udhcpd.leases"), "");
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["netns", "exec", net.Namespace, "busybox", "udhcpd", "-f", conf]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private async Task<string> RunVmUntilMarkerAsync(TestNetwork net, string mac, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["netns", "exec", net.Namespace, "qemu-system-x86_64",
                     "-machine", "accel=tcg", "-m", "256", "-display", "none", "-monitor", "none",
                     "-serial", "stdio", "-no-reboot", "-boot", "order=n",
                     "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                     "-device", $"virtio-net-pci,netdev=n0,mac={mac}"])
            psi.ArgumentList.Add(a);
        using var qemu = Process.Start(psi)!;
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var console = new List<string>();
        qemu.OutputDataReceived += (_, e) =>
        {
            if (e.Data == null) { found.TrySetException(new InvalidOperationException("QEMU ended before the marker")); return; }
            lock (console) console.Add(e.Data);
            int at = e.Data.IndexOf("P2V-NETBOOT-MARKER", StringComparison.Ordinal);
            if (at >= 0) found.TrySetResult(e.Data[at..].Trim());
        };
        qemu.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (console) console.Add("stderr: " + e.Data); };
        qemu.BeginOutputReadLine();
        qemu.BeginErrorReadLine();
        try
        {
            return await found.Task.WaitAsync(timeout);
        }
        finally
        {
            if (!qemu.HasExited) qemu.Kill(entireProcessTree: true);
            await qemu.WaitForExitAsync();
            lock (console) foreach (var l in console.TakeLast(40)) output.WriteLine("vm: " + l);
        }
    }

    private static int FreeTcpPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
