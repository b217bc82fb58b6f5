using P2V.Imaging.VirtualDisks;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using P2V.Migration.Creation;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Migration.Tests;

/// <summary>
/// p2v createvm: disk files checked by qemu-img, the boot floppy built by tools/make-floppy checked with mtools,
/// and the QEMU configuration started under TCG on those disks and floppy until the floppy's boot loader runs.
/// </summary>
public sealed class CreateVmTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    private static JsonElement QemuImgInfo(string path) =>
        JsonDocument.Parse(ExternalTool.Run("qemu-img", "info", "--output=json", path)).RootElement;

    [Theory]
    [InlineData(TargetKind.Qemu, VirtualDiskFormat.Vhd, "vpc")]
    [InlineData(TargetKind.HyperV, VirtualDiskFormat.Vhdx, "vhdx")]
    [InlineData(TargetKind.Libvirt, VirtualDiskFormat.Raw, "raw")]
    [InlineData(TargetKind.Vmware, VirtualDiskFormat.Vmdk, "vmdk")]
    public async Task CreatesDisksSizedLikeTheSource(TargetKind target, VirtualDiskFormat format, string qemuFormat)
    {
        using var dir = new TempDirectory();
        var (plan, _) = PlanTests.SmallServerPlan(disks, target, dir.Path, Path.Combine(dir.Path, "disks"), format);
        var created = await VmCreator.CreateAsync(plan, new CreateVmOptions { MakeFloppyScript = TestPaths.MakeFloppy });

        var file = Assert.Single(created.Disks);
        var info = QemuImgInfo(file);
        Assert.Equal(qemuFormat, info.GetProperty("format").GetString());
        long size = info.GetProperty("virtual-size").GetInt64();
        // VHD rounds up to whole CHS geometry; the others are exact.
        if (format == VirtualDiskFormat.Vhd) Assert.InRange(size, plan.Disks[0].SizeBytes, plan.Disks[0].SizeBytes + (16L << 20));
        else Assert.Equal(plan.Disks[0].SizeBytes, size);
        if (format == VirtualDiskFormat.Vhdx)
            ExternalTool.Run("qemu-img", "check", "-f", qemuFormat, file);   // qemu-img checks no VHD, raw or VMDK-flat
        // not zero-filled: the 80 GB disk takes (almost) no space on the host
        var data = format == VirtualDiskFormat.Vmdk ? Path.ChangeExtension(file, null) + "-flat.vmdk" : file;
        long allocated = long.Parse(ExternalTool.Run("stat", "-c", "%b", data).Trim()) * 512;
        Assert.InRange(allocated, 0, 64L << 20);

        Assert.True(File.Exists(created.Config));
        var device = JsonDocument.Parse(File.ReadAllText(created.DeviceFile)).RootElement;
        Assert.Equal("00:1e:0b:aa:bb:cc", device.GetProperty("macs")[0].GetString());
    }

    [Fact]
    public async Task BootFloppy_IsFat12WithSyslinuxAndIpxe()
    {
        using var dir = new TempDirectory();
        var (plan, _) = PlanTests.SmallServerPlan(disks, TargetKind.Qemu, dir.Path, dir.Path);
        var created = await VmCreator.CreateAsync(plan, new CreateVmOptions { MakeFloppyScript = TestPaths.MakeFloppy });
        Assert.Equal(1474560, new FileInfo(created.Floppy).Length);
        Assert.Contains("FAT (12 bit)", ExternalTool.Run("file", created.Floppy));
        var listing = ExternalTool.Run("mdir", "-a", "-b", "-i", created.Floppy, "::");
        foreach (var f in new[] { "ldlinux.sys", "ldlinux.c32", "syslinux.cfg", "ipxe.lkrn" })
            Assert.Contains("::/" + f, listing, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(File.ReadAllBytes("/usr/lib/ipxe/ipxe.lkrn"), ExternalTool.RunBytes("mtype", "-i", created.Floppy, "::ipxe.lkrn"));
        Assert.Equal(File.ReadAllText(Path.Combine(TestPaths.Repo, "boot", "floppy", "syslinux.cfg")),
            Encoding.ASCII.GetString(ExternalTool.RunBytes("mtype", "-i", created.Floppy, "::syslinux.cfg")));
    }

    [Fact]
    public async Task RefusesToOverwriteDisksUnlessForced()
    {
        using var dir = new TempDirectory();
        var (plan, _) = PlanTests.SmallServerPlan(disks, TargetKind.Qemu, dir.Path, dir.Path);
        var floppy = dir.File("given.vfd");
        File.WriteAllBytes(floppy, new byte[1474560]);
        await VmCreator.CreateAsync(plan, new CreateVmOptions { FloppySource = floppy });
        await Assert.ThrowsAsync<IOException>(() => VmCreator.CreateAsync(plan, new CreateVmOptions { FloppySource = floppy }));
        await VmCreator.CreateAsync(plan, new CreateVmOptions { FloppySource = floppy, Overwrite = true });
    }

    /// <summary>
    /// The generated QEMU script, run as written (only the accelerator, the network backend and the console are
    /// chosen from outside), boots the created VHD + floppy VM under TCG until syslinux on the floppy loads iPXE.
    /// </summary>
    [Fact]
    public async Task QemuConfiguration_BootsTheFloppysBootLoader()
    {
        using var dir = new TempDirectory();
        var (plan, _) = PlanTests.SmallServerPlan(disks, TargetKind.Qemu, dir.Path, dir.Path, VirtualDiskFormat.Vhd);
        var created = await VmCreator.CreateAsync(plan, new CreateVmOptions { MakeFloppyScript = TestPaths.MakeFloppy });

        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in new[] { created.Config, "-display", "none", "-serial", "stdio", "-no-reboot" }) psi.ArgumentList.Add(a);
        psi.Environment["P2V_QEMU_ACCEL"] = "tcg";
        psi.Environment["P2V_QEMU_NETDEV"] = "user";
        using var qemu = Process.Start(psi)!;
        var output = new StringBuilder();
        var seen = new TaskCompletionSource();
        _ = Task.Run(async () =>
        {
            var buffer = new char[256];
            int n;
            while ((n = await qemu.StandardOutput.ReadAsync(buffer)) > 0)
            {
                lock (output)
                {
                    output.Append(buffer, 0, n);
                    if (output.ToString().Contains("Loading ipxe.lkrn... ok")) seen.TrySetResult();
                }
            }
            seen.TrySetResult();
        });
        var stderr = qemu.StandardError.ReadToEndAsync();
        try
        {
            await seen.Task.WaitAsync(TimeSpan.FromMinutes(3));
        }
        catch (TimeoutException) { }
        finally
        {
            if (!qemu.HasExited) qemu.Kill(entireProcessTree: true);
            await qemu.WaitForExitAsync();
        }
        string text;
        lock (output) text = output.ToString();
        Assert.True(text.Contains("SYSLINUX") && text.Contains("Loading ipxe.lkrn... ok"),
            $"QEMU console:\n{text}\nstderr:\n{await stderr}");
    }
}
