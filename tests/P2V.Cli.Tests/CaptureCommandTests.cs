using System.Text.Json;

namespace P2V.Cli.Tests;

/// <summary>The `p2v` capture/restore/image commands as a user runs them: a real process, exit codes, one-line reasons, nothing half-written.</summary>
public sealed class CaptureCommandTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static ExternalTool.Result P2v(params string[] args) => P2vProcess.Run(args);

    /// <summary>An MBR disk with one NTFS partition, made by sfdisk and mkntfs.</summary>
    private string MakeDisk(string partitionType = "7")
    {
        var disk = _tmp.File("disk.img");
        using (var f = File.Create(disk)) f.SetLength(48 << 20);
        ExternalTool.RunWith("sfdisk", ["--no-reread", "--no-tell-kernel", disk], $"label: dos\nstart=2048, type={partitionType}\n");
        if (partitionType == "7")
        {
            var vol = _tmp.File("vol.img");
            using (var f = File.Create(vol)) f.SetLength((48 << 20) - (2048 * 512));
            ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", vol);
            ExternalTool.Run("dd", $"if={vol}", $"of={disk}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none");
        }
        return disk;
    }

    [Fact]
    public void CaptureRestoreInfoVerifyRoundTrip()
    {
        var disk = MakeDisk();
        var image = _tmp.File("disk.p2v");
        var capture = P2v("capture", disk, "-o", image, "--json");
        Assert.True(capture.ExitCode == 0, capture.StdErr);
        var result = JsonDocument.Parse(capture.StdOut).RootElement;
        Assert.True(result.GetProperty("bytesRead").GetInt64() > 0);
        Assert.False(File.Exists(image + ".partial"));

        var info = JsonDocument.Parse(P2v("image", "info", image, "--json").StdOut).RootElement;
        Assert.Equal("Mbr", info.GetProperty("partitionTable").GetString());
        Assert.Equal(48L << 20, info.GetProperty("diskBytes").GetInt64());
        Assert.Contains(info.GetProperty("volumes").EnumerateArray(), v => v.GetProperty("kind").GetString() == "Ntfs");
        // What each codec holds adds up to the image's chunks and stored bytes; LZ4 is the default.
        var codecs = info.GetProperty("codecs").EnumerateArray().ToList();
        Assert.Equal(info.GetProperty("chunks").GetInt32(), codecs.Sum(c => c.GetProperty("chunks").GetInt32()));
        Assert.Equal(info.GetProperty("storedBytes").GetInt64(), codecs.Sum(c => c.GetProperty("storedBytes").GetInt64()));
        Assert.Contains(codecs, c => c.GetProperty("codec").GetString() == "lz4");
        Assert.Contains("codecs:     ", P2v("image", "info", image).StdOut);

        var verify = P2v("image", "verify", image);
        Assert.Equal(0, verify.ExitCode);
        Assert.Contains("ok", verify.StdOut);

        var target = _tmp.File("restored.img");
        var restore = P2v("restore", image, target);
        Assert.True(restore.ExitCode == 0, restore.StdErr);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, target));
    }

    [Fact]
    public void DamagedNtfsBitmapFailsTheCaptureOrIsCapturedRawOnRequest()
    {
        var disk = MakeDisk();
        // $Bitmap's cluster as ntfsinfo reports it (inode 6, the run line "0x0  LCN  length"), zeroed inside the partition.
        var vol = _tmp.File("vol.img");
        var bitmapRun = ExternalTool.Run("ntfsinfo", "-v", "-i", "6", vol).Split('\n').Last(l => l.Trim().StartsWith("0x0\t") || l.Trim().StartsWith("0x0 "));
        long lcn = Convert.ToInt64(bitmapRun.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[1], 16);
        using (var f = File.OpenWrite(disk))
        {
            f.Position = 2048 * 512 + lcn * 4096;
            f.Write(new byte[4096]);
        }
        var image = _tmp.File("damaged.p2v");
        var refused = P2v("capture", disk, "-o", image);
        Assert.NotEqual(0, refused.ExitCode);
        var reason = P2vProcess.OneLine(refused);
        Assert.Contains("partition 1", reason);
        Assert.Contains("$Bitmap", reason);
        Assert.Contains("--raw-on-damage", reason);
        Assert.False(File.Exists(image));

        var raw = P2v("capture", disk, "-o", image, "--raw-on-damage");
        Assert.True(raw.ExitCode == 0, raw.StdErr);
        Assert.Contains("captured raw", raw.StdErr);
        var target = _tmp.File("restored.img");
        Assert.Equal(0, P2v("restore", image, target).ExitCode);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, target));
    }

    [Fact]
    public void CaptureStreamsToStandardOutput()
    {
        var disk = MakeDisk();
        var image = _tmp.File("streamed.p2v");
        var r = P2vProcess.Shell($"$P2V capture '{disk}' -o - > '{image}'");
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal(0, P2v("image", "verify", image).ExitCode);
    }

    [Fact]
    public void DynamicDiskFailsWithOneLineAndLeavesNoFile()
    {
        var disk = MakeDisk(partitionType: "42");
        var image = _tmp.File("dyn.p2v");
        var r = P2v("capture", disk, "-o", image);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("dynamic", r.StdErr, StringComparison.OrdinalIgnoreCase);
        Assert.Single(r.StdErr.Trim().Split('\n'));
        Assert.False(File.Exists(image));
        Assert.False(File.Exists(image + ".partial"));
    }

    [Fact]
    public void MissingSourceNamesIt()
    {
        var r = P2v("capture", _tmp.File("nope.img"), "-o", _tmp.File("x.p2v"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("nope.img", r.StdErr);
        Assert.False(File.Exists(_tmp.File("x.p2v.partial")));
    }

    [Fact]
    public void UnknownOptionIsAUsageError()
    {
        var r = P2v("capture", "a", "-o", "b", "--compress-harder");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown option --compress-harder", r.StdErr);
    }

    [Fact]
    public void TruncatedImageIsReportedIncomplete()
    {
        var disk = MakeDisk();
        var image = _tmp.File("t.p2v");
        Assert.Equal(0, P2v("capture", disk, "-o", image).ExitCode);
        var bytes = File.ReadAllBytes(image);
        File.WriteAllBytes(image, bytes[..(bytes.Length - 100)]);
        var r = P2v("image", "verify", image);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("incomplete", r.StdErr);
        var restore = P2v("restore", image, _tmp.File("never.img"));
        Assert.Equal(1, restore.ExitCode);
        Assert.False(File.Exists(_tmp.File("never.img")));
        Assert.False(File.Exists(_tmp.File("never.img.partial")));
    }

    [SkippableFact]
    public void CapturesFromAndRestoresOntoBlockDevices()
    {
        Requires.Root("loop devices");
        Requires.Tool("losetup");
        var disk = MakeDisk();
        var blank = _tmp.File("blank.img");
        using (var f = File.Create(blank)) f.SetLength(48 << 20);
        // Loop devices need a kernel that offers them; where losetup cannot attach, there is no block device to test.
        var source = ExternalTool.Try("losetup", "-f", "--show", "-r", disk);
        Skip.If(source.ExitCode != 0, $"losetup cannot attach a loop device: {source.StdErr.Trim()}");
        var target = ExternalTool.Try("losetup", "-f", "--show", blank);
        try
        {
            Assert.Equal(0, target.ExitCode);
            var image = _tmp.File("dev.p2v");
            var capture = P2v("capture", source.StdOut.Trim(), "-o", image);
            Assert.True(capture.ExitCode == 0, capture.StdErr);
            var restore = P2v("restore", image, target.StdOut.Trim());
            Assert.True(restore.ExitCode == 0, restore.StdErr);
            Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, target.StdOut.Trim()));
        }
        finally
        {
            ExternalTool.Try("losetup", "-d", source.StdOut.Trim());
            if (target.ExitCode == 0) ExternalTool.Try("losetup", "-d", target.StdOut.Trim());
        }
    }

    [Fact]
    public void ImagesFromTheManagedCompressorReadTheSame()
    {
        // P2V_LZ4=managed: the fallback where the system's liblz4 is missing (a minimal boot image).
        var disk = MakeDisk();
        var image = _tmp.File("managed.p2v");
        var r = P2vProcess.Shell($"P2V_LZ4=managed $P2V capture '{disk}' -o '{image}'");
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal(0, P2v("image", "verify", image).ExitCode);
        var target = _tmp.File("managed.img");
        Assert.Equal(0, P2v("restore", image, target).ExitCode);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, target));
    }
}
