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
            for (int i = 0; i < Mutation.PerStructure; i++) data.Add(family, structure, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MutatedInputKeepsThePromise(string family, string structure, int index)
    {
        var (source, structures) = fx.Families[family];
        var s = structures.Single(x => x.Name == structure);
        var random = Mutation.RandomFor(structure, index);
        var name = $"{structure}-{Mutation.Seed}-{index}";
        var mutated = Path.Combine(fx.Dir, name + Path.GetExtension(source));
        ExternalTool.Run("cp", "--sparse=always", source, mutated);
        var what = Mutation.Apply(mutated, s, random);
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

    /// <summary>The commands that read a file of this family, each with its promise.</summary>
    private IEnumerable<Action<string>> Commands(string family, string input, string name)
    {
        string Out(string suffix) => Path.Combine(fx.Dir, name + suffix);
        switch (family)
        {
            case "image":
                yield return what => Promise.Expect(what, P2vRun.Start("image", "verify", input));
                yield return what => Promise.ExpectNewFile(what, Out(".restored.raw"), P2vRun.Start("restore", input, Out(".restored.raw")));
                yield return what => Promise.ExpectUntouchedOnFailure(what, Out(".target.vhdx"), fx.BlankVhdx, target => P2vRun.Start("restore", input, target));
                break;
            case "vhd" or "vhdx":
                yield return what => Promise.Expect(what, P2vRun.Start("disk", "info", input));
                yield return what => Promise.ExpectNewFile(what, Out(".converted.vhdx"), P2vRun.Start("disk", "convert", input, Out(".converted.vhdx"), "--format", "vhdx"));
                yield return what => Promise.ExpectUntouchedOnFailure(what, Out(".target" + Path.GetExtension(input)), input, target => P2vRun.Start("restore", fx.Image, target));
                yield return what => Promise.Expect(what, P2vRun.Start("disk", "repair", input));
                break;
            default:
                yield return what =>
                {
                    var image = Out(".p2v");
                    var run = Promise.ExpectNewFile(what, image, P2vRun.Start("capture", input, "-o", image));
                    if (run.ExitCode == 0) Promise.Expect(what + " (its image)", P2vRun.Start("image", "verify", image), mustSucceed: true);
                };
                break;
        }
    }
}
