using System.Text;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>Builds test disks with real tools: sfdisk for the tables, mkntfs + wimapply and mkfs.fat + mcopy for the volumes.</summary>
public static class DiskFixtures
{
    public const long MiB = 1 << 20;

    /// <summary>A deterministic tree of small, medium (compressible text) and large (random) files in nested folders.</summary>
    public static void GenerateTree(string root, int seed, int smallFiles = 300)
    {
        var rng = new Random(seed);
        var dirs = new List<string> { root };
        for (int i = 0; i < 12; i++)
        {
            var d = Path.Combine(dirs[rng.Next(dirs.Count)], $"Dir{i}_{(char)('a' + i)}");
            Directory.CreateDirectory(d);
            dirs.Add(d);
        }
        var deep = root;
        for (int i = 0; i < 10; i++) deep = Path.Combine(deep, $"level{i}");
        Directory.CreateDirectory(deep);
        dirs.Add(deep);
        for (int i = 0; i < smallFiles; i++)
        {
            var bytes = new byte[rng.Next(0, 6000)];
            rng.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(dirs[rng.Next(dirs.Count)], $"file{i:D4}.bin"), bytes);
        }
        for (int i = 0; i < 4; i++)
        {
            var text = new StringBuilder();
            while (text.Length < 300_000) text.Append($"line {rng.Next(1000)} of a log that compresses well {i}\r\n");
            File.WriteAllText(Path.Combine(dirs[rng.Next(dirs.Count)], $"Log{i}.TXT"), text.ToString());
        }
        var big = new byte[3 * MiB];
        rng.NextBytes(big);
        File.WriteAllBytes(Path.Combine(root, "random.dat"), big);
        File.WriteAllText(Path.Combine(root, "boot.ini"), "[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n");
    }

    /// <summary>An NTFS volume file made by mkntfs and filled by wimapply from a generated tree.</summary>
    public static void MakeNtfsVolume(TempDirectory tmp, string volumePath, long bytes, int clusterSize, int seed, long partitionStartSector = 0)
    {
        using (var f = File.Create(volumePath)) f.SetLength(bytes);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", clusterSize.ToString(), "-p", partitionStartSector.ToString(), "-L", $"SYS{seed}", volumePath);
        var tree = tmp.File($"tree{seed}");
        Directory.CreateDirectory(tree);
        GenerateTree(tree, seed);
        var wim = tmp.File($"tree{seed}.wim");
        ExternalTool.Run("wimcapture", tree, wim, "--compress=none");
        ExternalTool.Run("wimapply", wim, "1", volumePath);
        File.Delete(wim);
    }

    /// <summary>A FAT volume file made by mkfs.fat and filled with mcopy.</summary>
    public static void MakeFatVolume(TempDirectory tmp, string volumePath, long bytes, int fatBits, int seed)
    {
        using (var f = File.Create(volumePath)) f.SetLength(bytes);
        // One sector per cluster, so that even a small volume has the cluster count its FAT width requires.
        ExternalTool.Run("mkfs.fat", "-F", fatBits.ToString(), "-s", "1", "-n", $"FAT{fatBits}", volumePath);
        var tree = tmp.File($"fat{seed}");
        Directory.CreateDirectory(tree);
        var rng = new Random(seed);
        for (int i = 0; i < 40; i++)
        {
            var content = new byte[rng.Next(1, 20000)];
            rng.NextBytes(content);
            File.WriteAllBytes(Path.Combine(tree, $"F{i}.BIN"), content);
        }
        ExternalTool.Run("mcopy", "-s", "-i", volumePath, tree, "::/DATA");
    }

    /// <summary>Partitions a sparse disk file with an sfdisk script.</summary>
    public static void Partition(string diskPath, long bytes, string sfdiskScript)
    {
        using (var f = File.Create(diskPath)) f.SetLength(bytes);
        ExternalTool.RunWith("sfdisk", ["--no-reread", "--no-tell-kernel", diskPath], sfdiskScript);
    }

    /// <summary>Copies a volume file into a disk file at a byte offset, keeping holes.</summary>
    public static void Place(string volumePath, string diskPath, long offset) =>
        ExternalTool.Run("dd", $"if={volumePath}", $"of={diskPath}", "bs=64K", $"seek={offset}", "oflag=seek_bytes", "conv=notrunc,sparse", "status=none");

    /// <summary>Extracts a byte range of a disk into its own file (to hand a partition to ntfs-3g's tools).</summary>
    public static void Extract(string diskPath, long offset, long length, string volumePath) =>
        ExternalTool.Run("dd", $"if={diskPath}", $"of={volumePath}", "bs=64K", $"skip={offset}", $"count={length}", "iflag=skip_bytes,count_bytes", "conv=sparse", "status=none");

    /// <summary>Start and size in bytes of each partition, as sfdisk reads the table.</summary>
    public static List<(long Start, long Size)> Partitions(string diskPath, int sectorSize = 512)
    {
        var json = System.Text.Json.JsonDocument.Parse(ExternalTool.Run("sfdisk", "--json", diskPath));
        return json.RootElement.GetProperty("partitiontable").GetProperty("partitions").EnumerateArray()
            .Select(p => (p.GetProperty("start").GetInt64() * sectorSize, p.GetProperty("size").GetInt64() * sectorSize))
            .ToList();
    }
}
