using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// A write cut off after any number of sector writes (the disk stops accepting them, as when the process is
/// killed or the power fails) leaves a volume that ntfs-3g still reads: ntfsfix -n finds nothing to fix, the
/// other files read back byte for byte, and the file being written reads as either its old or its new content.
/// </summary>
public sealed class NtfsInterruptedWriteTests(NtfsWriteFixture fx) : IClassFixture<NtfsWriteFixture>
{
    /// <summary>Accepts <paramref name="writes"/> writes, then fails every later one.</summary>
    private sealed class FailingDisk(IVirtualDisk inner, int writes) : IVirtualDisk
    {
        public int Writes { get; private set; }
        public long Length => inner.Length;
        public int SectorSize => inner.SectorSize;
        public bool CanWrite => true;
        public void ReadAt(long offset, Span<byte> buffer) => inner.ReadAt(offset, buffer);
        public void WriteAt(long offset, ReadOnlySpan<byte> data)
        {
            if (Writes >= writes) throw new IOException("simulated crash");
            Writes++;
            inner.WriteAt(offset, data);
        }
        public IEnumerable<Extent> AllocatedExtents() => inner.AllocatedExtents();
        public void Flush() => inner.Flush();
        public void Dispose() => inner.Dispose();
    }

    public static TheoryData<string> Operations => ["replace-grow", "replace-shrink", "create", "create-many", "attributes"];

    private static readonly byte[] Grown = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray();

    private static void Run(string operation, NtfsVolume volume)
    {
        switch (operation)
        {
            case "replace-grow": volume.ReplaceFile("/boot.ini", Grown); break;
            case "replace-shrink": volume.ReplaceFile("/WINDOWS/system32/ntoskrnl.exe", [1, 2, 3]); break;
            case "create": volume.CreateFile("/WINDOWS/system32/drivers/pciide.sys", Grown); break;
            case "create-many":
                for (int i = 0; i < 40; i++) volume.CreateFile($"/small/a long name so that the root must move out {i:D3}.txt", [(byte)i]);
                break;
            case "attributes": volume.SetFileAttributes("/boot.ini", FileAttributes.Hidden | FileAttributes.System, 0); break;
        }
    }

    [Theory]
    [MemberData(nameof(Operations))]
    public void InterruptedWriteLeavesAReadableVolume(string operation)
    {
        var path = fx.Copy("interrupt-" + operation);
        int total;
        using (var counting = new FailingDisk(RawDisk.OpenReadWrite(path), int.MaxValue))
        {
            Run(operation, NtfsVolume.Open(counting));
            total = counting.Writes;
        }
        Assert.True(total > 2);
        var untouched = fx.Files.Where(f => f.Key.Contains("drivers/") || f.Key.EndsWith("hal.dll")).ToDictionary();
        // Every cut point for short writes; about a dozen spread over the long ones.
        int step = Math.Max(1, total / 12);
        for (int cut = 0; cut < total; cut += step)
        {
            File.Copy(fx.BaseVolume, path, overwrite: true);
            using (var failing = new FailingDisk(RawDisk.OpenReadWrite(path), cut))
                Assert.Throws<IOException>(() => Run(operation, NtfsVolume.Open(failing)));
            NtfsWriteFixture.AssertHealthy(path, untouched);
            Assert.Equal(0, ExternalTool.Try("ntfsls", "-R", "-a", path).ExitCode);
            if (operation.StartsWith("replace"))
            {
                var (file, before, after) = operation == "replace-grow"
                    ? ("/boot.ini", fx.Files["/boot.ini"], Grown)
                    : ("/WINDOWS/system32/ntoskrnl.exe", fx.Files["/WINDOWS/system32/ntoskrnl.exe"], new byte[] { 1, 2, 3 });
                var now = ExternalTool.RunBytes("ntfscat", path, file);
                Assert.True(now.AsSpan().SequenceEqual(before) || now.AsSpan().SequenceEqual(after), $"cut at write {cut}: {file} is neither old nor new ({now.Length} bytes)");
            }
            if (operation == "create")
            {
                var r = ExternalTool.Try("ntfscat", path, "/WINDOWS/system32/drivers/pciide.sys");
                Assert.True(r.ExitCode != 0 || r.StdOut.Length > 0, $"cut at write {cut}");
            }
        }
    }
}
