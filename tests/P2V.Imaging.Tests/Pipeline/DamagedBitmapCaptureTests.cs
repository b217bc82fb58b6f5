using System.Text.RegularExpressions;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.Pipeline.DiskFixtures;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// A capture must not trust a damaged NTFS $Bitmap: a volume made by mkntfs and filled by wimapply, with its
/// $Bitmap (located by ntfsinfo) zeroed, randomised or missing one file's cluster, is refused with the reason;
/// with raw-on-damage it is captured raw and restores to a volume ntfs-3g's tools read.
/// </summary>
public sealed partial class DamagedBitmapCaptureTests : IDisposable
{
    private const int ClusterSize = 4096;
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [GeneratedRegex(@"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*$")]
    private static partial Regex RunLine();

    [GeneratedRegex(@"^\s*(\d+)\s+(.+?)\s*$")]
    private static partial Regex InodeLine();

    private string MakeVolume()
    {
        var volume = _tmp.File("vol.img");
        MakeNtfsVolume(_tmp, volume, 48 * MiB, ClusterSize, seed: 3);
        return volume;
    }

    /// <summary>The first run of an attribute as ntfsinfo -v prints it: (LCN, length).</summary>
    private static (long Lcn, long Length) FirstRun(string volume, params string[] select)
    {
        var output = ExternalTool.Run("ntfsinfo", ["-v", .. select, volume]);
        bool inData = false;
        foreach (var line in output.Split('\n'))
        {
            if (line.StartsWith("Dumping attribute")) inData = line.StartsWith("Dumping attribute $DATA ");
            var m = RunLine().Match(line);
            if (inData && m.Success) return (Convert.ToInt64(m.Groups[2].Value, 16), Convert.ToInt64(m.Groups[3].Value, 16));
        }
        throw new InvalidOperationException($"ntfsinfo shows no $DATA run for {string.Join(' ', select)}");
    }

    private static void Damage(string volume, Action<byte[]> change)
    {
        var (lcn, length) = FirstRun(volume, "-i", "6");
        var bitmap = new byte[length * ClusterSize];
        using var disk = RawDisk.OpenReadWrite(volume);
        disk.ReadAt(lcn * ClusterSize, bitmap);
        change(bitmap);
        disk.WriteAt(lcn * ClusterSize, bitmap);
    }

    private static CapturePlan Plan(string volume, bool rawOnDamage = false)
    {
        using var disk = RawDisk.OpenRead(volume);
        return CapturePlanner.Plan(disk, rawOnDamage: rawOnDamage);
    }

    [Fact]
    public void ZeroedBitmapIsRefusedNamingTheBootSector()
    {
        var volume = MakeVolume();
        Damage(volume, b => Array.Clear(b));
        var e = Assert.Throws<InvalidDataException>(() => Plan(volume));
        // The first cluster the MFT uses is $Boot's cluster 0 (record 7).
        Assert.Contains("$Bitmap marks", e.Message);
        Assert.Contains("cluster 0, mapped by MFT record 7", e.Message);
        Assert.Contains("--raw-on-damage", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void RandomBitmapIsRefused()
    {
        var volume = MakeVolume();
        Damage(volume, b => new Random(7).NextBytes(b));
        var e = Assert.Throws<InvalidDataException>(() => Plan(volume));
        Assert.Contains("$Bitmap marks", e.Message);
    }

    [Fact]
    public void OneFileClusterMarkedFreeIsFoundWithItsRecord()
    {
        var volume = MakeVolume();
        var (lcn, _) = FirstRun(volume, "-F", "/random.dat");
        long inode = -1;
        foreach (var line in ExternalTool.Run("ntfsls", "-i", volume).Split('\n'))
            if (InodeLine().Match(line) is { Success: true } m && m.Groups[2].Value == "random.dat") inode = long.Parse(m.Groups[1].Value);
        Assert.True(inode > 0, "precondition: ntfsls lists random.dat");
        Damage(volume, b => b[lcn / 8] &= (byte)~(1 << (int)(lcn % 8)));
        var e = Assert.Throws<InvalidDataException>(() => Plan(volume));
        Assert.Contains($"marks 1 cluster(s) free", e.Message);
        Assert.Contains($"cluster {lcn}, mapped by MFT record {inode} attribute 0x80", e.Message);
    }

    [Fact]
    public void BitmapWithEveryClusterUsedIsCapturedWhole()
    {
        // Too many bits set loses nothing: it is captured as it says, free space and all.
        var volume = MakeVolume();
        Damage(volume, b => Array.Fill(b, (byte)0xFF));
        var plan = Plan(volume);
        Assert.Empty(plan.Warnings);
        Assert.Equal(VolumeKind.Ntfs, plan.Header.Volumes.Single().Kind);
        Assert.Equal(48 * MiB, plan.BytesToRead);
    }

    [Fact]
    public async Task ZeroedBitmapWithRawOnDamageIsCapturedRawAndRestores()
    {
        var volume = MakeVolume();
        Damage(volume, b => Array.Clear(b));
        var plan = Plan(volume, rawOnDamage: true);
        var warning = Assert.Single(plan.Warnings);
        Assert.Contains("captured raw", warning);
        Assert.Equal(VolumeKind.Raw, plan.Header.Volumes.Single().Kind);

        var image = _tmp.File("vol.p2v");
        using (var source = RawDisk.OpenRead(volume))
        await using (var output = File.Create(image))
            await new CapturePipeline().RunAsync(source, plan, output);
        var restored = _tmp.File("restored.img");
        using (var reader = ImageReader.Open(image))
        using (var target = RawDisk.Create(restored, reader.Header.DiskLength, reader.Header.SectorSize))
            await new RestorePipeline { TargetIsBlank = true }.RunAsync(reader, target);

        // mkntfs and wimapply leave free space zero, so a raw capture that drops zero blocks restores the volume exactly.
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", volume, restored));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_tmp.Path, "tree3", "random.dat")), ExternalTool.RunBytes("ntfscat", restored, "random.dat"));
    }
}
