using System.Security.Cryptography;

namespace P2V.Agent.Tests;

/// <summary>
/// The sample physical server of tools/make-sample-server (a Windows Server 2003 SP2-like 512 MiB MBR disk, its
/// sysfs tree and a patch library), made once per content of the script into /tmp/p2v-sample-server/KEY.
/// </summary>
public static class SampleServer
{
    /// <summary>Why the sample cannot be made here, or null.</summary>
    public static string? Missing()
    {
        foreach (var tool in new[] { "mkntfs", "hivexregedit", "i686-w64-mingw32-windres", "i686-w64-mingw32-gcc", "gcab", "sfdisk", "mkfs.fat", "mcopy", "wimapply", "python3" })
            if (ExternalTool.Try("sh", "-c", $"command -v {tool}").ExitCode != 0) return $"{tool} is not installed";
        return null;
    }

    public static string Ensure()
    {
        string script = Path.Combine(BootImages.RepoRoot(), "tools", "make-sample-server");
        string key = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(script)))[..16].ToLowerInvariant();
        string dir = Path.Combine("/tmp/p2v-sample-server", key);
        if (File.Exists(Path.Combine(dir, "source.img"))) return dir;
        Directory.CreateDirectory("/tmp/p2v-sample-server");
        if (Directory.Exists(dir + ".partial")) Directory.Delete(dir + ".partial", true);
        // The script runs `p2v hive create`: the p2v built beside these tests.
        var result = ExternalTool.RunWith("env", [$"P2V={P2vCommand.Executable}", script, dir + ".partial"], stdin: null, check: false, timeoutMs: 600_000);
        if (result.ExitCode != 0) throw new InvalidOperationException($"tools/make-sample-server failed ({result.ExitCode}): {result.StdErr}");
        Directory.Move(dir + ".partial", dir);
        return dir;
    }
}
