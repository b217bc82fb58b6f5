using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace P2V.Agent.Tests;

/// <summary>
/// The boot images as tools/build-boot-images makes them, built once per content of their inputs (boot/, the
/// build scripts, the sources the agent is published from) into /tmp/p2v-boot-images/KEY and reused from there.
/// The Debian packages are cached in /tmp/p2v-boot-images/debs.
/// </summary>
public static class BootImages
{
    public const string Base = "/tmp/p2v-boot-images";

    public static string RepoRoot([CallerFilePath] string source = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(source)!, "..", ".."));

    /// <summary>Why the images cannot be built or booted here, or null.</summary>
    public static string? Missing()
    {
        if (!OperatingSystem.IsLinux()) return "Linux only";
        if (Environment.UserName != "root") return "needs root (tap devices, network namespaces)";
        foreach (var tool in new[] { "qemu-system-x86_64", "apt-get", "dpkg-deb", "depmod", "cpio", "mksquashfs", "mkfs.fat", "syslinux", "mcopy" })
            if (ExternalTool.Try("sh", "-c", $"command -v {tool}").ExitCode != 0) return $"{tool} is not installed";
        return null;
    }

    /// <summary>The images: $P2V_BOOT_IMAGES when set (images built beforehand), else built or reused as above.</summary>
    public static string Ensure()
    {
        if (Environment.GetEnvironmentVariable("P2V_BOOT_IMAGES") is { Length: > 0 } given) return given;
        string key = InputsKey();
        string dir = Path.Combine(Base, key);
        Directory.CreateDirectory(Base);
        // One build at a time across test processes: an exclusive open, retried, is the lock.
        using var exclusive = AcquireExclusive(Path.Combine(Base, key + ".building"));
        if (File.Exists(Path.Combine(dir, "deploy.vfd"))) return dir;
        var result = ExternalTool.RunWith(Path.Combine(RepoRoot(), "tools", "build-boot-images"),
            [dir + ".partial", "--cache", Path.Combine(Base, "debs")], stdin: null, check: false, timeoutMs: 1_800_000);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"tools/build-boot-images failed ({result.ExitCode}): {result.StdErr}");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.Move(dir + ".partial", dir);
        return dir;
    }

    private static FileStream AcquireExclusive(string path)
    {
        for (var until = DateTime.UtcNow.AddMinutes(30); ; )
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (DateTime.UtcNow < until) { Thread.Sleep(1000); }
        }
    }

    private static string InputsKey()
    {
        string root = RepoRoot();
        var files = new List<string>();
        foreach (var dir in new[] { "boot", "src" })
            files.AddRange(Directory.EnumerateFiles(Path.Combine(root, dir), "*", SearchOption.AllDirectories)
                .Where(f => !f.Contains("/bin/") && !f.Contains("/obj/")));
        files.AddRange(new[] { "tools/build-boot-images", "tools/make-floppy", "Directory.Build.props", "Directory.Packages.props" }.Select(f => Path.Combine(root, f)));
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in files.Where(File.Exists).Order(StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(Path.GetRelativePath(root, f) + "\n"));
            hash.AppendData(File.ReadAllBytes(f));
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant();
    }
}
