using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;

namespace P2V.Cli.Tests;

/// <summary>
/// What a hostile or careless user does to `p2v` (issue 10): odd sources and targets, pipes that close, kills and full
/// disks. Each case: a non-zero exit, one line naming what is wrong, and nothing broken left under a real name.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static ExternalTool.Result P2v(params string[] args) => P2vProcess.Run(args);

    /// <summary>A disk of incompressible bytes (no partition table: captured as one raw volume), so its image is as large as it.</summary>
    private string RandomDisk(string name, int mib)
    {
        var path = _tmp.File(name);
        var data = new byte[1 << 20];
        using var f = File.Create(path);
        for (int i = 0; i < mib; i++)
        {
            RandomNumberGenerator.Fill(data);
            data[510] = data[511] = 0; // no MBR signature
            f.Write(data);
        }
        return path;
    }

    private string CaptureOf(string disk)
    {
        var image = disk + ".p2v";
        var r = P2v("capture", disk, "-o", image);
        Assert.True(r.ExitCode == 0, r.StdErr);
        return image;
    }


    [Fact]
    public void CaptureIntoAPipeWhoseReaderGoesAwayFails()
    {
        var disk = RandomDisk("pipe.img", 16);
        // head reads 1000 bytes and exits; every later write of p2v's meets a closed pipe.
        var r = P2vProcess.Shell($"$P2V capture '{disk}' -o - | head -c 1000 > /dev/null; echo \"exit=${{PIPESTATUS[0]}}\"");
        Assert.Contains("exit=1", r.StdOut);
        Assert.DoesNotContain("done", r.StdErr);
        Assert.Contains("pipe", r.StdErr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void WithOutputOnStandardOutputTheJsonGoesElsewhere()
    {
        var disk = RandomDisk("json.img", 2);
        var image = _tmp.File("json.p2v");
        var jsonFile = _tmp.File("summary.json");
        var r = P2vProcess.Shell($"$P2V capture '{disk}' -o - --json --json-file '{jsonFile}' > '{image}'");
        Assert.True(r.ExitCode == 0, r.StdErr);
        // Standard output held the image alone: it verifies, and the JSON went to standard error and the file.
        Assert.Equal(0, P2v("image", "verify", image).ExitCode);
        Assert.True(JsonDocument.Parse(r.StdErr).RootElement.GetProperty("imageBytes").GetInt64() == new FileInfo(image).Length);
        Assert.Equal(new FileInfo(image).Length, JsonDocument.Parse(File.ReadAllText(jsonFile)).RootElement.GetProperty("imageBytes").GetInt64());
    }

    [Fact]
    public void SourceDescriptionIsBounded()
    {
        var disk = RandomDisk("src.img", 1);
        // /dev/zero never ends: refused after a few MiB, not read into memory until it runs out.
        var zero = P2v("capture", disk, "-o", _tmp.File("zero.p2v"), "--source", "/dev/zero");
        Assert.Equal(1, zero.ExitCode);
        Assert.Contains("--source /dev/zero", P2vProcess.OneLine(zero));
        Assert.False(File.Exists(_tmp.File("zero.p2v")));

        var big = _tmp.File("big.xml");
        File.WriteAllBytes(big, new byte[5 << 20]);
        var r = P2v("capture", disk, "-o", _tmp.File("big.p2v"), "--source", big);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("at most 4.0 MiB", P2vProcess.OneLine(r));

        var small = _tmp.File("inventory.xml");
        File.WriteAllText(small, "<inventory/>");
        var ok = P2v("capture", disk, "-o", _tmp.File("ok.p2v"), "--source", small, "--json");
        Assert.True(ok.ExitCode == 0, ok.StdErr);
    }

    [Theory]
    [InlineData("fifo", "FIFO")]
    [InlineData("empty", "empty")]
    [InlineData("/dev/null", "character device")]
    [InlineData("/dev/zero", "character device")]
    [InlineData("folder", "folder")]
    public void UnusableCaptureSourcesAreNamedBeforeAnyWork(string source, string reason)
    {
        var path = source switch
        {
            "fifo" => _tmp.File("fifo"),
            "empty" => _tmp.File("empty.img"),
            "folder" => _tmp.Path,
            _ => source,
        };
        if (source == "fifo") ExternalTool.Run("mkfifo", path);
        if (source == "empty") File.WriteAllBytes(path, []);
        var image = _tmp.File("out.p2v");
        // A FIFO without a writer would block an open for ever: the timeout turns a hang into a failure.
        var r = ExternalTool.RunWith("dotnet", [P2vProcess.Dll, "capture", path, "-o", image], stdin: null, check: false, timeoutMs: 120_000);
        Assert.Equal(1, r.ExitCode);
        var line = P2vProcess.OneLine(r);
        Assert.Contains(reason, line);
        Assert.Contains(path, line);
        Assert.False(File.Exists(image));
        Assert.False(File.Exists(image + ".partial"));
    }

    [Fact]
    public void AFolderAsOutputIsRefusedBeforeAnyWork()
    {
        var disk = RandomDisk("d.img", 1);
        var r = P2v("capture", disk, "-o", _tmp.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is a folder", P2vProcess.OneLine(r)); // one line: not even the plan was printed
        var restore = P2v("restore", CaptureOf(disk), _tmp.Path);
        Assert.Equal(1, restore.ExitCode);
        Assert.Contains("folder", P2vProcess.OneLine(restore));
    }

    [Fact]
    public void AClosedOrTerminalStandardOutputIsNamed()
    {
        var disk = RandomDisk("c.img", 1);
        var r = P2vProcess.Shell($"$P2V capture '{disk}' -o - >&-");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("standard output is closed", P2vProcess.OneLine(r));
    }

    [Fact]
    public void RestoreOntoItsOwnImageIsRefused()
    {
        var disk = RandomDisk("self.img", 1);
        var image = CaptureOf(disk);
        var before = Hostile.Promise.Hash(image);
        var link = _tmp.File("link.p2v");
        File.CreateSymbolicLink(link, image);
        foreach (var target in new[] { image, link })
        {
            var r = P2v("restore", image, target);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("is the image", P2vProcess.OneLine(r));
        }
        Assert.Equal(before, Hostile.Promise.Hash(image));
        Assert.Equal(0, P2v("image", "verify", image).ExitCode);
    }

    [Fact]
    public void RestoreWithAFormatOntoAnExistingDiskOfAnotherFormatIsRefused()
    {
        var disk = RandomDisk("fmt.img", 1);
        var image = CaptureOf(disk);
        var target = _tmp.File("existing.img");
        File.WriteAllBytes(target, new byte[2 << 20]);
        var before = Hostile.Promise.Hash(target);
        var r = P2v("restore", image, target, "--format", "vhdx");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is a raw disk, not vhdx", P2vProcess.OneLine(r));
        Assert.Equal(before, Hostile.Promise.Hash(target));

        // The matching format, or none, writes in place.
        Assert.Equal(0, P2v("restore", image, target, "--format", "raw").ExitCode);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, target));
    }

    [Fact]
    public void RestoreOntoATooSmallVhdxLeavesItUntouched()
    {
        var disk = RandomDisk("big.img", 4);
        var image = CaptureOf(disk);
        var target = _tmp.File("small.vhdx");
        ExternalTool.Run("qemu-img", "create", "-q", "-f", "vhdx", target, "2M");
        var before = Hostile.Promise.Hash(target);
        var r = P2v("restore", image, target);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("bytes but the image's disk is", P2vProcess.OneLine(r));
        Assert.Equal(before, Hostile.Promise.Hash(target));
    }

    [Fact]
    public void CreateOfZeroBytesIsRefusedInEveryFormat()
    {
        foreach (var format in new[] { "raw", "vhd", "vhdx" })
        {
            var file = _tmp.File($"zero.{format}");
            var r = P2v("disk", "create", file, "--size", "0", "--format", format);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("0 bytes", P2vProcess.OneLine(r));
            Assert.False(File.Exists(file));
            Assert.False(File.Exists(file + ".partial"));
        }
    }

    [Fact]
    public void ConvertAndCreateRefuseAnExistingTarget()
    {
        var disk = RandomDisk("src.img", 1);
        var existing = _tmp.File("there.vhdx");
        File.WriteAllText(existing, "keep me");
        Assert.Contains("exists already", P2vProcess.OneLine(P2v("disk", "convert", disk, existing, "--format", "vhdx")));
        Assert.Contains("exists already", P2vProcess.OneLine(P2v("disk", "create", existing, "--size", "1M", "--format", "vhdx")));
        Assert.Equal("keep me", File.ReadAllText(existing));
    }

    /// <summary>A 12 MiB tmpfs: a full disk on demand. Mounting needs root; elsewhere the test is skipped.</summary>
    private string? SmallFileSystem()
    {
        var mount = Directory.CreateDirectory(_tmp.File("small")).FullName;
        return ExternalTool.Try("mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", mount).ExitCode == 0 ? mount : null;
    }

    [SkippableFact]
    public void AFullDiskLeavesNoFileUnderTheRealName()
    {
        var mount = SmallFileSystem();
        Skip.If(mount is null, "cannot mount a tmpfs here (needs root)");
        try
        {
            var disk = RandomDisk("full.img", 24);
            var converted = Path.Combine(mount, "out.vhdx");
            var convert = P2v("disk", "convert", disk, converted, "--format", "vhdx");
            Assert.Equal(1, convert.ExitCode);
            Assert.Contains("space", P2vProcess.OneLine(convert), StringComparison.OrdinalIgnoreCase);
            var created = Path.Combine(mount, "new.vhdx");
            var create = P2v("disk", "create", created, "--size", "24M", "--format", "vhdx-fixed", "--zero-fill");
            Assert.Equal(1, create.ExitCode);
            var restored = Path.Combine(mount, "restored.img");
            var restore = P2v("restore", CaptureOf(disk), restored);
            Assert.Equal(1, restore.ExitCode);
            Assert.Empty(Directory.GetFileSystemEntries(mount)); // not the real names, not even a .partial
        }
        finally
        {
            ExternalTool.Try("umount", mount);
        }
    }

    [SkippableFact]
    public void AKilledConvertLeavesNoFileUnderTheRealName()
    {
        var disk = RandomDisk("kill.img", 192);
        var output = _tmp.File("killed.vhdx");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { P2vProcess.Dll, "disk", "convert", disk, output, "--format", "vhdx", "--sync" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        // Killed as soon as the copy has begun: the partial file is there and the real name is not.
        var clock = Stopwatch.StartNew();
        while (!File.Exists(output + ".partial") && !p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(5);
        bool interrupted = !p.HasExited;
        p.Kill();
        p.WaitForExit();
        Skip.IfNot(interrupted, "convert ended before it could be killed");
        Assert.False(File.Exists(output), "a killed convert left its output under the real name");
        Assert.True(File.Exists(output + ".partial"));
        // The next run starts over, in place of the leftover partial file.
        var again = P2v("disk", "convert", disk, output, "--format", "vhdx");
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.False(File.Exists(output + ".partial"));
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "vhdx", disk, output));
    }
}
