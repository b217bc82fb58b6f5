using System.Text.RegularExpressions;

namespace P2V.Imaging.Tests.Disks;

/// <summary>
/// Makes partitioned disk images with util-linux and reads back what util-linux sees. sfdisk 2.38 has no
/// sector-size option, so 4096-byte-sector disks are made by fdisk -b 4096 loading the same sfdisk script
/// (its 'I' command) and dumped by its 'O' command, all on a plain file.
/// </summary>
public static partial class PartitionFixture
{
    public sealed record Dumped(int Number, long Start, long Size, string Type, string? Uuid, string? Name, bool Bootable, string? Attrs);

    public sealed record Dump(string Label, string? LabelId, int SectorSize, IReadOnlyList<Dumped> Partitions);

    public static void Make(string path, long bytes, string script, int sectorSize = 512)
    {
        using (var f = File.Create(path)) f.SetLength(bytes);
        if (sectorSize == 512)
        {
            ExternalTool.RunWith("sfdisk", ["-q", "--no-reread", "--no-tell-kernel", path], script);
            return;
        }
        var scriptFile = path + ".sfdisk";
        File.WriteAllText(scriptFile, script);
        var r = ExternalTool.RunWith("fdisk", ["-b", sectorSize.ToString(), path], $"I\n{scriptFile}\nw\n");
        Assert.DoesNotContain("Failed", r.StdOut + r.StdErr);
    }

    /// <summary>The table as util-linux reads it, in sfdisk's dump format.</summary>
    public static Dump Read(string path, int sectorSize = 512)
    {
        string text;
        if (sectorSize == 512)
        {
            text = ExternalTool.Run("sfdisk", "--dump", path);
        }
        else
        {
            var outFile = path + ".dump";
            File.Delete(outFile);
            ExternalTool.RunWith("fdisk", ["-b", sectorSize.ToString(), path], $"O\n{outFile}\nq\n");
            text = File.ReadAllText(outFile);
        }
        string? label = null, labelId = null;
        int size = 512;
        var parts = new List<Dumped>();
        foreach (var line in text.Split('\n'))
        {
            var header = HeaderLine().Match(line);
            if (header.Success)
            {
                switch (header.Groups[1].Value)
                {
                    case "label": label = header.Groups[2].Value.Trim(); break;
                    case "label-id": labelId = header.Groups[2].Value.Trim(); break;
                    case "sector-size": size = int.Parse(header.Groups[2].Value.Trim()); break;
                }
                continue;
            }
            var part = PartitionLine().Match(line);
            if (!part.Success) continue;
            var fields = new Dictionary<string, string>();
            bool bootable = false;
            foreach (var raw in SplitFields(part.Groups[2].Value))
            {
                int eq = raw.IndexOf('=');
                if (eq < 0) { if (raw.Trim() == "bootable") bootable = true; continue; }
                fields[raw[..eq].Trim()] = raw[(eq + 1)..].Trim().Trim('"');
            }
            parts.Add(new Dumped(int.Parse(part.Groups[1].Value), long.Parse(fields["start"]), long.Parse(fields["size"]),
                fields["type"], fields.GetValueOrDefault("uuid"), fields.GetValueOrDefault("name"), bootable, fields.GetValueOrDefault("attrs")));
        }
        return new Dump(label ?? "", labelId, size, parts);
    }

    private static IEnumerable<string> SplitFields(string s)
    {
        int start = 0;
        bool quoted = false;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '"') quoted = !quoted;
            else if (s[i] == ',' && !quoted) { yield return s[start..i]; start = i + 1; }
        }
        yield return s[start..];
    }

    [GeneratedRegex(@"^([a-z-]+): (.*)$")]
    private static partial Regex HeaderLine();

    [GeneratedRegex(@"^\S*?(\d+) : (.*)$")]
    private static partial Regex PartitionLine();
}
