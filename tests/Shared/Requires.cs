namespace P2V.Tests;

/// <summary>
/// Prerequisites a test cannot run without (root, /dev/fuse, loop devices, an installed tool). A missing one
/// skips the test, so it is reported as skipped and never as passed; the test must be a [SkippableFact] or
/// [SkippableTheory]. CI installs everything and fails a run that skipped anything (tools/test).
/// </summary>
public static class Requires
{
    /// <summary>The effective user id is 0 (from /proc/self/status: "Uid: real effective saved fs").</summary>
    public static bool IsRoot { get; } = File.ReadLines("/proc/self/status")
        .FirstOrDefault(l => l.StartsWith("Uid:"))?.Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries) is [_, _, "0", ..];

    public static void Root(string why) => Skip.IfNot(IsRoot, $"needs root ({why})");

    /// <summary>The ntfs-3g FUSE driver can mount: root, /dev/fuse and ntfs-3g.</summary>
    public static bool CanMountNtfs => IsRoot && File.Exists("/dev/fuse") && OnPath("ntfs-3g");

    /// <summary>Skips unless <see cref="CanMountNtfs"/>.</summary>
    public static void Fuse()
    {
        Root("FUSE mounts");
        Skip.IfNot(File.Exists("/dev/fuse"), "needs /dev/fuse");
        Tool("ntfs-3g");
    }

    public static void Tool(string name) => Skip.IfNot(OnPath(name), $"needs {name}, which is not installed");

    public static bool OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, name)));
}
