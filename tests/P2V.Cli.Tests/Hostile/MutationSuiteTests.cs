using System.Buffers.Binary;
using System.Security.Cryptography;

namespace P2V.Cli.Tests.Hostile;

/// <summary>
/// The files the suite mutates, made once by real tools: an MBR disk with an NTFS partition (sfdisk, mkntfs), a GPT
/// disk (sfdisk), the disk as a p2v image, as a dynamic VHD and as a VHDX (qemu-img), and a blank VHDX to restore onto.
/// </summary>
public sealed class MutationFixture : IDisposable
{
    public const long PartitionOffset = 2048 * 512;
    private readonly TempDirectory _tmp = new();

    public MutationFixture()
    {
        Disk = _tmp.File("disk.img");
        using (var f = File.Create(Disk)) f.SetLength(16 << 20);
        ExternalTool.RunWith("sfdisk", ["-q", "--no-reread", "--no-tell-kernel", Disk], "label: dos\nstart=2048, size=20480, type=7\nstart=22528, type=c\n");
        var volume = _tmp.File("ntfs.img");
        using (var f = File.Create(volume)) f.SetLength(20480 * 512);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-p", "2048", "-L", "SUITE", volume);
        ExternalTool.Run("dd", $"if={volume}", $"of={Disk}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none");

        Gpt = _tmp.File("gpt.img");
        using (var f = File.Create(Gpt)) f.SetLength(16 << 20);
        ExternalTool.RunWith("sfdisk", ["-q", "--no-reread", "--no-tell-kernel", Gpt], "label: gpt\nstart=2048, size=20480, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n");
        ExternalTool.Run("dd", $"if={volume}", $"of={Gpt}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none");

        Image = _tmp.File("disk.p2v");
        var capture = P2vRun.Start("capture", Disk, "-o", Image);
        Assert.True(capture.ExitCode == 0, capture.Describe());
        Vhd = _tmp.File("disk.vhd");
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", Disk, Vhd);
        Vhdx = _tmp.File("disk.vhdx");
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", Disk, Vhdx);
        BlankVhdx = _tmp.File("blank.vhdx");
        ExternalTool.Run("qemu-img", "create", "-q", "-f", "vhdx", "-o", "block_size=1M", BlankVhdx, (16 << 20).ToString());

        Families = new Dictionary<string, (string File, IReadOnlyList<Structure> Structures)>
        {
            ["image"] = (Image, Structures.Image(Image)),
            ["vhd"] = (Vhd, Structures.Vhd(Vhd)),
            ["vhdx"] = (Vhdx, Structures.Vhdx(Vhdx)),
            ["mbr-ntfs"] = (Disk, Structures.MbrNtfs(Disk, PartitionOffset)),
            ["gpt"] = (Gpt, Structures.Gpt(Gpt)),
        };
    }

    public string Disk { get; }
    public string Gpt { get; }
    public string Image { get; }
    public string Vhd { get; }
    public string Vhdx { get; }
    public string BlankVhdx { get; }
    public IReadOnlyDictionary<string, (string File, IReadOnlyList<Structure> Structures)> Families { get; }

    public string Dir => _tmp.Path;

    public void Dispose() => _tmp.Dispose();
}

/// <summary>
/// Generated hostile input, run through p2v as a user would: every on-disk structure p2v reads (image header, frames,
/// trailer, footer; VHD footer, header, BAT; VHDX header, region table, BAT, metadata; MBR; GPT header and entries;
/// NTFS boot sector and MFT records) gets deterministic mutations — a field set to a boundary value with the
/// structure's checksum made right again, or raw byte flips — and each command that reads it must keep the promises
/// README.md states: exit 0 with a sound result, or exit 1 with one line naming what is wrong; never a crash or a
/// stack trace; no output under its real name (not even a .partial) after a failure; an existing target untouched
/// when the command refused before writing; memory bounded. P2V_SUITE_MUTATIONS (default 2 per structure) and
/// P2V_SUITE_SEED (default 1) make longer or different runs.
/// </summary>
public sealed class MutationSuiteTests(MutationFixture fx) : IClassFixture<MutationFixture>
{
    private const long MemoryBoundKiB = 1L << 20; // 1 GiB: the pipelines' windows are a few dozen MiB

    private static int PerStructure => int.TryParse(Environment.GetEnvironmentVariable("P2V_SUITE_MUTATIONS"), out var n) ? n : 2;
    private static int Seed => int.TryParse(Environment.GetEnvironmentVariable("P2V_SUITE_SEED"), out var n) ? n : 1;

    private static readonly (string Family, string Structure)[] All =
    [
        ("image", "image-header"), ("image", "image-frame"), ("image", "image-trailer"), ("image", "image-footer"),
        ("vhd", "vhd-footer"), ("vhd", "vhd-header"), ("vhd", "vhd-bat"),
        ("vhdx", "vhdx-header"), ("vhdx", "vhdx-regions"), ("vhdx", "vhdx-bat"), ("vhdx", "vhdx-metadata"),
        ("mbr-ntfs", "mbr"), ("mbr-ntfs", "ntfs-boot"), ("mbr-ntfs", "ntfs-mft"), ("gpt", "gpt-header"), ("gpt", "gpt-entries"),
    ];

    public static TheoryData<string, string, int> Cases()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var (family, structure) in All)
            for (int i = 0; i < PerStructure; i++) data.Add(family, structure, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MutatedInputKeepsThePromise(string family, string structure, int index)
    {
        var (source, structures) = fx.Families[family];
        var s = structures.Single(x => x.Name == structure);
        // string.GetHashCode differs per process: the seed comes from the structure's name by a fixed rule instead.
        var random = new Random(Seed * 1_000_003 + structure.Aggregate(17, (h, c) => h * 31 + c) + index * 7919);
        var name = $"{structure}-{Seed}-{index}";
        var mutated = Path.Combine(fx.Dir, name + Path.GetExtension(source));
        ExternalTool.Run("cp", "--sparse=always", source, mutated);
        var what = Mutate(mutated, s, random);
        try
        {
            foreach (var check in Commands(family, mutated, name))
                check(what);
        }
        finally
        {
            foreach (var f in Directory.GetFiles(fx.Dir, name + "*")) File.Delete(f);
        }
    }

    /// <summary>One mutation of <paramref name="s"/>: a field set to a boundary value (checksum fixed), or flipped bytes (checksum left stale).</summary>
    private static string Mutate(string path, Structure s, Random random)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        if (random.Next(4) == 0 || s.Fields.Count == 0)
        {
            int flips = 1 + random.Next(4);
            var at = new List<long>();
            for (int i = 0; i < flips; i++)
            {
                long p = s.At + random.Next(s.Length);
                f.Position = p;
                int b = f.ReadByte();
                f.Position = p;
                f.WriteByte((byte)(b ^ (1 << random.Next(8))));
                at.Add(p);
            }
            return $"{s.Name}: bits flipped at {string.Join(", ", at)}";
        }
        var field = s.Fields[random.Next(s.Fields.Count)];
        var old = new byte[8];
        f.Position = field.At;
        f.ReadExactly(old.AsSpan(0, field.Width));
        ulong value = Read(old.AsSpan(0, field.Width), field.BigEndian);
        ulong max = field.Width == 8 ? ulong.MaxValue : (1UL << (8 * field.Width)) - 1;
        ulong[] candidates = [0, 1, max, max >> 1, (max >> 1) + 1, value + 1, value - 1, value * 2, value / 2, value + 512, value ^ (1UL << random.Next(8 * field.Width)), (ulong)random.NextInt64() & max];
        ulong v = candidates[random.Next(candidates.Length)] & max;
        var bytes = new byte[field.Width];
        Write(bytes, v, field.BigEndian);
        f.Position = field.At;
        f.Write(bytes);
        s.FixChecksum?.Invoke(f);
        return $"{s.Name}: {field.Name} {value} → {v}";
    }

    private static ulong Read(ReadOnlySpan<byte> b, bool bigEndian)
    {
        ulong v = 0;
        for (int i = 0; i < b.Length; i++) v |= (ulong)b[bigEndian ? b.Length - 1 - i : i] << (8 * i);
        return v;
    }

    private static void Write(Span<byte> b, ulong v, bool bigEndian)
    {
        for (int i = 0; i < b.Length; i++) b[bigEndian ? b.Length - 1 - i : i] = (byte)(v >> (8 * i));
    }

    /// <summary>The commands that read a file of this family, each with its promise.</summary>
    private IEnumerable<Action<string>> Commands(string family, string input, string name)
    {
        string Out(string suffix) => Path.Combine(fx.Dir, name + suffix);
        switch (family)
        {
            case "image":
                yield return what => Expect(what, P2vRun.Start("image", "verify", input));
                yield return what => ExpectNewFile(what, Out(".restored.raw"), P2vRun.Start("restore", input, Out(".restored.raw")));
                yield return what => ExpectUntouchedOnFailure(what, Out(".target.vhdx"), fx.BlankVhdx, target => P2vRun.Start("restore", input, target));
                break;
            case "vhd" or "vhdx":
                yield return what => Expect(what, P2vRun.Start("disk", "info", input));
                yield return what => ExpectNewFile(what, Out(".converted.vhdx"), P2vRun.Start("disk", "convert", input, Out(".converted.vhdx"), "--format", "vhdx"));
                yield return what => ExpectUntouchedOnFailure(what, Out(".target" + Path.GetExtension(input)), input, target => P2vRun.Start("restore", fx.Image, target));
                yield return what => Expect(what, P2vRun.Start("disk", "repair", input));
                break;
            default:
                yield return what =>
                {
                    var image = Out(".p2v");
                    var run = ExpectNewFile(what, image, P2vRun.Start("capture", input, "-o", image));
                    if (run.ExitCode == 0) Expect(what + " (its image)", P2vRun.Start("image", "verify", image), mustSucceed: true);
                };
                break;
        }
    }

    /// <summary>Exit 0, or exit 1 with exactly one line `p2v COMMAND: reason` naming where; no crash, no stack trace; memory bounded.</summary>
    private static P2vRun Expect(string what, P2vRun run, bool mustSucceed = false)
    {
        string context = $"{what}\n{run.Describe()}";
        Assert.True(run.ExitCode is 0 or 1, $"crashed or exited oddly: {context}");
        Assert.DoesNotContain("Unhandled exception", run.StdErr);
        Assert.DoesNotContain("   at ", run.StdErr);
        Assert.True(run.PeakKiB < MemoryBoundKiB, $"used {run.PeakKiB} KiB: {context}");
        if (mustSucceed) Assert.True(run.ExitCode == 0, context);
        if (run.ExitCode != 0)
        {
            Assert.True(run.ErrorLines.Count == 1, $"expected one reason line: {context}");
            var reason = run.ErrorLines[0];
            // "Where": an offset, a size or a name in the reason.
            Assert.True(reason.Any(char.IsDigit) || reason.Contains(Path.GetFileName(run.Args[^1])), $"the reason does not say where: {context}");
        }
        return run;
    }

    /// <summary>A command that creates <paramref name="output"/>: on failure neither it nor its .partial exists.</summary>
    private static P2vRun ExpectNewFile(string what, string output, P2vRun run)
    {
        Expect(what, run);
        if (run.ExitCode != 0)
        {
            Assert.False(File.Exists(output), $"{output} left behind after a failure: {what}\n{run.Describe()}");
            Assert.False(File.Exists(output + ".partial"), $"{output}.partial left behind after a failure: {what}\n{run.Describe()}");
        }
        return run;
    }

    /// <summary>A command that writes into an existing <paramref name="target"/> (a copy of <paramref name="original"/>): a refusal changes none of its bytes.</summary>
    private static void ExpectUntouchedOnFailure(string what, string target, string original, Func<string, P2vRun> command)
    {
        ExternalTool.Run("cp", "--sparse=always", original, target);
        var before = Hash(target);
        var run = Expect(what, command(target));
        if (run.ExitCode != 0) Assert.True(before == Hash(target), $"the refused target changed: {what}\n{run.Describe()}");
    }

    private static string Hash(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }
}
