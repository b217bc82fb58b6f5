using System.Security.Cryptography;
using System.Text.RegularExpressions;
using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>
/// A QEMU VM (TCG) boots the Debian kernel with a busybox initramfs, attaches a VHD and a VHDX we wrote as
/// virtio disks, and prints the MD5 of each on the serial console; they must equal the MD5 of the data we wrote.
/// </summary>
public sealed partial class VirtualDiskVmTests
{
    private static readonly string[] Modules = ["virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci", "virtio_blk"];

    [Fact]
    public void GuestReadsWhatWeWrote()
    {
        var (kernel, moduleDir) = FindKernel();
        using var dir = new TempDirectory();
        string raw = dir.File("data.raw");
        MakeRaw(raw, 40 * MiB, seed: 9);
        var disks = new[] { (VirtualDiskFormat.Vhd, dir.File("a.vhd"), "vpc"), (VirtualDiskFormat.Vhdx, dir.File("b.vhdx"), "vhdx") };
        var sizes = new List<long>();
        foreach (var (format, path, _) in disks)
        {
            using var disk = VirtualDisk.Create(path, format, 40 * MiB, new VirtualDiskCreateOptions { BlockSize = format == VirtualDiskFormat.Vhdx ? 2 << 20 : null });
            using var source = File.OpenRead(raw);
            var buf = new byte[MiB];
            for (long at = 0; at < source.Length; at += MiB)
            {
                source.ReadExactly(buf);
                if (buf.AsSpan().IndexOfAnyExcept((byte)0) >= 0) disk.WriteAt(at, buf);
            }
            sizes.Add(disk.Length);
        }

        string root = Directory.CreateDirectory(dir.File("root")).FullName;
        foreach (var d in new[] { "bin", "proc", "sys", "dev", "lib" }) Directory.CreateDirectory(Path.Combine(root, d));
        File.Copy("/bin/busybox", Path.Combine(root, "bin", "busybox"));
        foreach (var m in Modules)
        {
            var ko = Directory.EnumerateFiles(moduleDir, m + ".ko*", SearchOption.AllDirectories).First();
            if (!ko.EndsWith(".ko", StringComparison.Ordinal)) ExternalTool.Run("sh", "-c", $"xz -dc '{ko}' > '{Path.Combine(root, "lib", m + ".ko")}' 2>/dev/null || zstd -dc '{ko}' > '{Path.Combine(root, "lib", m + ".ko")}'");
            else File.Copy(ko, Path.Combine(root, "lib", m + ".ko"));
        }
        string init = Path.Combine(root, "init");
        File.WriteAllText(init, $$"""
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            mount -t proc proc /proc
            mount -t sysfs sys /sys
            mount -t devtmpfs dev /dev
            for m in {{string.Join(' ', Modules)}}; do insmod /lib/$m.ko; done
            for i in $(seq 1 200); do [ -b /dev/vdb ] && break; sleep 0.1; done
            echo "P2V-SUM vda $(head -c {{new FileInfo(raw).Length}} /dev/vda | md5sum) $(cat /sys/block/vda/size)"
            echo "P2V-SUM vdb $(head -c {{new FileInfo(raw).Length}} /dev/vdb | md5sum) $(cat /sys/block/vdb/size)"
            poweroff -f

            """.Replace("\r\n", "\n"));
        ExternalTool.Run("chmod", "755", init);
        string initrd = dir.File("initrd.cpio");
        ExternalTool.Run("sh", "-c", $"cd '{root}' && find . | busybox cpio -o -H newc > '{initrd}' 2>/dev/null");

        var args = new List<string>
        {
            "-machine", "accel=tcg", "-m", "256", "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
            "-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1 quiet",
        };
        foreach (var (_, path, qf) in disks) args.AddRange(["-drive", $"file={path},format={qf},if=virtio,readonly=on"]);
        var run = ExternalTool.RunWith("qemu-system-x86_64", args, stdin: null, check: false, timeoutMs: 300_000);

        string expected = Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(raw)));
        foreach (var (name, size) in new[] { ("vda", sizes[0]), ("vdb", sizes[1]) })
        {
            var m = Regex.Match(run.StdOut, $@"P2V-SUM {name} ([0-9a-f]{{32}}) +- +(\d+)");
            Assert.True(m.Success, $"no checksum for {name} on the serial console:\n{run.StdOut}\n{run.StdErr}");
            Assert.Equal(expected, m.Groups[1].Value);
            Assert.Equal(size / 512, long.Parse(m.Groups[2].Value));
        }
    }

    /// <summary>A /boot/vmlinuz-VERSION whose modules are installed under /lib/modules/VERSION.</summary>
    private static (string Kernel, string ModuleDir) FindKernel()
    {
        foreach (var k in Directory.EnumerateFiles("/boot", "vmlinuz-*").OrderDescending())
        {
            string version = Path.GetFileName(k)["vmlinuz-".Length..];
            string modules = $"/lib/modules/{version}/kernel/drivers";
            if (Directory.Exists(modules)) return (k, modules);
        }
        throw new InvalidOperationException("no /boot/vmlinuz-* with matching /lib/modules (tools/setup installs linux-image-amd64)");
    }
}
