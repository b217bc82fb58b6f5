using System.Buffers.Binary;
using System.Text.RegularExpressions;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// The safety check before writing: $LogFile's restart area (placed where `ntfsinfo -v -i 2` says $LogFile lives)
/// clean, empty or with a client Windows would replay; and the forced write that empties the log and marks the
/// volume dirty, as ntfs-3g and ntfsinfo then see it.
/// </summary>
public sealed class NtfsLogFileTests
{
    /// <summary>A restart page (ntfs-3g logfile.h RESTART_PAGE_HEADER + RESTART_AREA) with the given client list and flags, fix-ups applied.</summary>
    private static byte[] RestartPage(ushort clientInUse, ushort flags, long lsn)
    {
        var page = new byte[4096];
        "RSTR"u8.CopyTo(page);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(4), 0x1E);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(6), 9);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(0x10), 4096);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(0x14), 4096);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(0x18), 0x30);
        BinaryPrimitives.WriteInt16LittleEndian(page.AsSpan(0x1A), 1);
        BinaryPrimitives.WriteInt16LittleEndian(page.AsSpan(0x1C), 1);
        BinaryPrimitives.WriteInt64LittleEndian(page.AsSpan(0x30), lsn);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(0x38), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(0x3A), 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(0x3C), clientInUse);
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(0x3E), flags);
        UpdateSequence.Protect(page);
        return page;
    }

    private static (string Path, long LogOffset) Volume(TempDirectory tmp)
    {
        var path = tmp.File("v.img");
        NtfsFixture.Format(path, 16L << 20, 4096);
        var runlist = ExternalTool.Run("ntfsinfo", "-v", "-i", "2", path);
        long lcn = Convert.ToInt64(Regex.Match(runlist, @"0x0\s+0x([0-9a-fA-F]+)\s+0x").Groups[1].Value, 16);
        return (path, lcn * 4096);
    }

    private static void Put(string path, long offset, byte[] bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
        f.Position = offset;
        f.Write(bytes);
    }

    [Fact]
    public void EmptyAndCleanLogsAreWrittenAndLeftAsTheyAre()
    {
        using var tmp = new TempDirectory();
        var (path, log) = Volume(tmp);
        using (var disk = RawDisk.OpenReadWrite(path))
            Assert.Equal(LogFileState.Empty, NtfsVolume.Open(disk).ReadLogFileState()); // mkntfs leaves it all 0xFF

        var clean = RestartPage(LogFileRestartArea.NoClient, LogFileRestartArea.VolumeIsClean, 100);
        Put(path, log, clean);
        Put(path, log + 4096, clean);
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            Assert.Equal(LogFileState.Clean, volume.ReadLogFileState());
            Assert.Null(volume.UncleanReason());
            volume.CreateFile("/x.txt", [1, 2, 3]);
        }
        Assert.Equal(clean, ExternalTool.RunBytes("ntfscat", "-i", "2", path).AsSpan(0, 4096).ToArray());
        Assert.Matches(@"Volume Flags: 0x0000", ExternalTool.Run("ntfsinfo", "-m", path));
    }

    [Fact]
    public void UncleanLogIsRefusedUnlessForcedThenEmptiedAndTheVolumeMarkedDirty()
    {
        using var tmp = new TempDirectory();
        var (path, log) = Volume(tmp);
        // The first copy is clean but older; the newer second copy has an active client.
        Put(path, log, RestartPage(LogFileRestartArea.NoClient, LogFileRestartArea.VolumeIsClean, 100));
        Put(path, log + 4096, RestartPage(0, 0, 200));
        var before = File.ReadAllBytes(path);
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            Assert.Equal(LogFileState.Unclean, volume.ReadLogFileState());
            var e = Assert.Throws<IOException>(() => volume.CreateFile("/x.txt", [1]));
            Assert.Contains("$LogFile with active clients", e.Message);
        }
        Assert.Equal(before, File.ReadAllBytes(path));

        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            volume.AllowUncleanVolume = true;
            volume.CreateFile("/x.txt", [1]);
        }
        // ntfs-3g sees the dirty flag (it refuses without -f) and the emptied log.
        Assert.Contains("scheduled for check", ExternalTool.Try("ntfscat", path, "/x.txt").StdErr);
        Assert.All(ExternalTool.RunBytes("ntfscat", "-f", "-i", "2", path), b => Assert.Equal(0xFF, b));
        Assert.Matches(@"Volume Flags: 0x0001", ExternalTool.Run("ntfsinfo", "-f", "-m", path));
        Assert.Equal([1], ExternalTool.RunBytes("ntfscat", "-f", path, "/x.txt"));

        // Marked dirty now: refused again without force.
        using (var disk = RawDisk.OpenReadWrite(path))
            Assert.Contains("marked dirty", Assert.Throws<IOException>(() => NtfsVolume.Open(disk).ReplaceFile("/x.txt", [2])).Message);
    }
}
