using Xunit.Abstractions;

namespace P2V.Agent.Tests;

/// <summary>
/// The smoke test of a built boot image (docs/boot-images.md): Debian's kernel and our initramfs, booted in QEMU
/// with p2v.selftest=1, load the drivers for the VM's IDE disk and e1000 NIC, start the agent, which prints what it
/// sees, and the VM powers itself off.
/// </summary>
[Trait("Category", "VM")]
public sealed class SelfTestBootTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task The_boot_image_starts_the_agent_which_sees_the_disk_and_nic_and_powers_off()
    {
        string? why = BootImages.Missing();
        Skip.If(why is not null, why);
        string images = BootImages.Ensure();
        using var dir = new TempDirectory();
        string disk = dir.File("disk.img");
        ExternalTool.Run("truncate", "-s", "64M", disk);
        await using var vm = new QemuVm("selftest", [
            "-m", "512", "-no-reboot",
            "-kernel", Path.Combine(images, "vmlinuz"), "-initrd", Path.Combine(images, "initrd.img"),
            "-append", "console=ttyS0 quiet no_timer_check p2v.selftest=1",
            "-drive", $"file={disk},format=raw,if=ide",
            "-netdev", "user,id=n0,restrict=on", "-device", "e1000,netdev=n0,mac=52:54:00:4a:17:01",
        ], output);

        var line = await vm.WaitForLineAsync(l => l.StartsWith("p2v-agent ", StringComparison.Ordinal), TimeSpan.FromMinutes(5));
        Assert.Matches(@"^p2v-agent \S+ ", line);
        Assert.Contains("sda:67108864:ide:ata_piix", line);
        Assert.Contains("eth0:52:54:00:4a:17:01:e1000", line);
        // The memory installed, from the SMBIOS table QEMU gives the VM (the kernel itself leaves about 460 MiB of it).
        Assert.Contains(" memory=512MiB", line);
        // -no-reboot: the power-off ends QEMU by itself.
        await vm.WaitForExitAsync(TimeSpan.FromMinutes(2));
    }
}
