using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// Writes on freshly made volumes of every cluster shape that matters for index and MFT arithmetic: 512-byte
/// clusters (index block VCNs count 512-byte units, records span clusters), 4 KiB, 64 KiB (several index blocks and
/// MFT records per cluster), and 4 KiB sectors. mkntfs leaves no free MFT record, so creating files grows $MFT
/// (first inside its allocation, then with new clusters).
/// </summary>
public sealed class NtfsWriteClusterSizeTests
{
    [Theory]
    [InlineData(512, 512)]
    [InlineData(4096, 512)]
    [InlineData(65536, 512)]
    [InlineData(4096, 4096)]
    public void CreateAndReplaceOnAFreshVolume(int clusterSize, int sectorSize)
    {
        using var tmp = new TempDirectory();
        var path = tmp.File("v.img");
        NtfsFixture.Format(path, 24L << 20, clusterSize, sectorSize);
        var expected = new Dictionary<string, byte[]>();
        var random = new Random(clusterSize);
        using (var disk = RawDisk.OpenReadWrite(path, sectorSize))
        {
            var volume = NtfsVolume.Open(disk);
            Assert.NotEqual(LogFileState.Unclean, volume.ReadLogFileState());
            for (int i = 0; i < 120; i++)
            {
                var name = $"/file number {i * 37 % 120:D3} with a longish name.bin";
                var data = new byte[random.Next(0, 3 * clusterSize)];
                random.NextBytes(data);
                volume.CreateFile(name, data);
                expected[name] = data;
            }
            var big = new byte[1_000_000];
            random.NextBytes(big);
            volume.ReplaceFile("/file number 007 with a longish name.bin", big);
            expected["/file number 007 with a longish name.bin"] = big;
            volume.ReplaceFile("/file number 008 with a longish name.bin", [42]);
            expected["/file number 008 with a longish name.bin"] = [42];
        }
        NtfsWriteFixture.AssertHealthy(path, expected);
        Assert.Equal(expected.Keys.Select(k => k.TrimStart('/')).Order(StringComparer.Ordinal),
            NtfsFixture.NtfsLsNames(path, "/", dos: false).Where(n => !n.StartsWith('$')).Order(StringComparer.Ordinal));
    }
}
