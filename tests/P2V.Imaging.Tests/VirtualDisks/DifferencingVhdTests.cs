using P2V.Imaging.VirtualDisks;
using P2V.Imaging.VirtualDisks.Vhd;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>
/// Differencing VHDs over a parent made by qemu-img: sectors the child wrote come from the child, the rest from the
/// parent, found through the relative or the absolute locator. qemu has no differencing VHD support, so the
/// expected content is built independently with plain file writes and compared by qemu-img.
/// </summary>
public sealed class DifferencingVhdTests
{
    private static readonly (long Offset, int Count)[] Overlays =
    [
        (100, 300),                        // inside sector 0, unaligned at both ends
        (5 * MiB + 4096 + 511, 5000),     // over parent data, across sectors
        (2 * MiB - 700, 1400),             // across a 2 MiB block boundary
        (20 * MiB, (int)MiB),              // where the parent holds nothing
    ];

    private static void Overlay(string rawPath, IVirtualDisk child)
    {
        var rng = new Random(42);
        using var raw = new FileStream(rawPath, FileMode.Open, FileAccess.Write);
        foreach (var (offset, count) in Overlays)
        {
            var data = new byte[count];
            rng.NextBytes(data);
            child.WriteAt(offset, data);
            raw.Position = offset;
            raw.Write(data);
        }
    }

    [Fact]
    public void ChildReadsOverlayOverParentAndFollowsLocators()
    {
        using var dir = new TempDirectory();
        string a = Directory.CreateDirectory(dir.File("a")).FullName;
        string raw = dir.File("expected.raw"), parent = Path.Combine(a, "parent.vhd"), child = Path.Combine(a, "child.vhd");
        MakeRaw(raw, 24 * MiB);
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vpc", raw, parent);
        string parentSnapshot = dir.File("parent-before.raw");
        ExternalTool.Run("qemu-img", "convert", "-f", "vpc", "-O", "raw", parent, parentSnapshot);

        using (var d = VhdDisk.CreateDifferencing(child, parent))
        {
            Assert.Equal(VhdDiskType.Differencing, d.DiskType);
            Overlay(raw, d);
        }
        // The parent is untouched.
        ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "vpc", parentSnapshot, parent);

        using (var d = VirtualDisk.Open(child))
        {
            var vhd = Assert.IsType<VhdDisk>(d);
            Assert.Equal(Path.GetFullPath(parent), vhd.ParentPath);
            AssertSameData(raw, d);
            AssertExtentsCoverData(raw, d);
            var info = VirtualDisk.Describe(d, child);
            Assert.Equal("vhd-differencing", info.Format);
        }

        // Export through our reader and let qemu-img compare it with the independently built expectation.
        string exported = dir.File("exported.raw");
        using (var d = VirtualDisk.Open(child))
        using (var o = VirtualDisk.Create(exported, VirtualDiskFormat.Raw, d.Length))
        {
            var buf = new byte[MiB];
            for (long at = 0; at < d.Length; at += MiB)
            {
                int n = (int)Math.Min(MiB, d.Length - at);
                d.ReadAt(at, buf.AsSpan(0, n));
                o.WriteAt(at, buf.AsSpan(0, n));
            }
        }
        ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", raw, exported);

        // Both moved together: the relative locator finds the parent.
        string b = dir.File("b");
        Directory.Move(a, b);
        using (var d = (VhdDisk)VirtualDisk.Open(Path.Combine(b, "child.vhd")))
        {
            Assert.Equal(Path.Combine(b, "parent.vhd"), d.ParentPath);
            AssertSameData(raw, d);
        }

        // The child moved alone: the absolute locator is stale and the relative one points nowhere.
        string c = Directory.CreateDirectory(dir.File("c")).FullName;
        File.Move(Path.Combine(b, "child.vhd"), Path.Combine(c, "child.vhd"));
        Directory.Move(b, a);
        using (var d = (VhdDisk)VirtualDisk.Open(Path.Combine(c, "child.vhd"))) Assert.Equal(parent, d.ParentPath); // absolute
        File.Move(parent, parent + ".moved");
        var e = Assert.Throws<VirtualDiskException>(() => VirtualDisk.Open(Path.Combine(c, "child.vhd")));
        Assert.Contains("cannot find the parent disk", e.Message);

        // Another disk in the parent's place: its unique id gives it away.
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vpc", raw, parent);
        e = Assert.Throws<VirtualDiskException>(() => VirtualDisk.Open(Path.Combine(c, "child.vhd")));
        Assert.Contains("but the differencing disk expects", e.Message);
    }

    [Fact]
    public void ChainOfTwoChildren()
    {
        using var dir = new TempDirectory();
        string raw = dir.File("expected.raw"), parent = dir.File("p.vhd"), mid = dir.File("m.vhd"), top = dir.File("t.vhd");
        MakeRaw(raw, 12 * MiB);
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", raw, parent);
        using (var d = VhdDisk.CreateDifferencing(mid, parent)) d.WriteAt(MiB, new byte[4096].Select(_ => (byte)1).ToArray());
        using (var d = VhdDisk.CreateDifferencing(top, mid)) d.WriteAt(MiB + 1024, new byte[512].Select(_ => (byte)2).ToArray());
        using var f = new FileStream(raw, FileMode.Open, FileAccess.Write);
        f.Position = MiB; f.Write(new byte[4096].Select(_ => (byte)1).ToArray());
        f.Position = MiB + 1024; f.Write(new byte[512].Select(_ => (byte)2).ToArray());
        f.Dispose();
        using var t = VirtualDisk.Open(top);
        AssertSameData(raw, t);
    }
}
