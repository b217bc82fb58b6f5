using System.Runtime.CompilerServices;

namespace P2V.Migration.Tests;

/// <summary>Where the test sources, fixtures, golden files and the repository's tools and docs are.</summary>
public static class TestPaths
{
    public static string TestsFolder { get; } = Folder();

    private static string Folder([CallerFilePath] string file = "") => Path.GetDirectoryName(file)!;

    public static string Repo => Path.GetFullPath(Path.Combine(TestsFolder, "..", ".."));
    public static string Machine(string name) => Path.Combine(TestsFolder, "Fixtures", name);
    public static string Golden(string name) => Path.Combine(TestsFolder, "Golden", name);
    public static string Xsd => Path.Combine(Repo, "docs", "inventory.xsd");
    public static string MakeFloppy => Path.Combine(Repo, "tools", "make-floppy");
}
