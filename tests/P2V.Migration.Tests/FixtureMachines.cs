using System.Collections.Concurrent;

namespace P2V.Migration.Tests;

/// <summary>
/// The fixture machines' sysfs/procfs trees. The repository holds their files and, in links.txt, their symbolic
/// links ("path -> target", as sysfs has them); the links are made here in a copy, because sysfs links point at
/// their own ancestors and a tree holding them would send every recursive walk (MSBuild's globbing, grep -r) in circles.
/// </summary>
public static class FixtureMachines
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Made = new();
    private static readonly string Scratch = Path.Combine(Path.GetTempPath(), $"p2v-machines-{Environment.ProcessId}");

    /// <summary>
    /// The trees live in a folder named after the test process; the test host does not always run exit handlers,
    /// so each run removes the folders of processes that are gone.
    /// </summary>
    static FixtureMachines()
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), "p2v-machines-*"))
        {
            var suffix = Path.GetFileName(dir)["p2v-machines-".Length..];
            if (int.TryParse(suffix, out var pid) && Directory.Exists($"/proc/{pid}")) continue;
            try { Directory.Delete(dir, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        Directory.CreateDirectory(Scratch);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(Scratch, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        };
    }

    /// <summary>The root of a ready tree for <paramref name="name"/>, links included.</summary>
    public static string Root(string name) => Made.GetOrAdd(name, n => new Lazy<string>(() => Make(n))).Value;

    private static string Make(string name)
    {
        var source = TestPaths.Machine(name);
        var root = Path.Combine(Scratch, name);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(source, file);
            if (rel == "links.txt") continue;
            var dest = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(file, dest);
        }
        foreach (var line in File.ReadAllLines(Path.Combine(source, "links.txt")))
        {
            var parts = line.Split(" -> ");
            if (parts.Length != 2) continue;
            var link = Path.Combine(root, parts[0]);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            File.CreateSymbolicLink(link, parts[1]);
        }
        return root;
    }
}
