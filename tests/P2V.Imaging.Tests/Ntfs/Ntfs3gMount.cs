using System.Diagnostics;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>The ntfs-3g FUSE driver as an independent reader and writer of our volumes. Needs /dev/fuse and root (tests call Requires.Fuse first).</summary>
internal static class Ntfs3gMount
{
    /// <summary>Mounts the image with ntfs-3g in the foreground, runs <paramref name="action"/> on the mount point, unmounts and waits for the driver to finish.</summary>
    public static void With(string image, string mountPoint, Action<string> action, string options = "no_detach")
    {
        Directory.CreateDirectory(mountPoint);
        var psi = new ProcessStartInfo("ntfs-3g") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-o", options, image, mountPoint }) psi.ArgumentList.Add(a);
        using var driver = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.ReadAllText("/proc/mounts").Contains(" " + mountPoint + " "))
        {
            if (driver.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"ntfs-3g did not mount {image}: {driver.StandardError.ReadToEnd()}");
            Thread.Sleep(20);
        }
        try
        {
            action(mountPoint);
        }
        finally
        {
            // A file the action just closed can keep the mount busy for a moment on a loaded machine: retry, then detach lazily.
            for (int attempt = 0; ExternalTool.Try("fusermount", "-u", mountPoint).ExitCode != 0; attempt++)
            {
                if (attempt == 50) { ExternalTool.Run("fusermount", "-u", "-z", mountPoint); break; }
                Thread.Sleep(100);
            }
            if (!driver.WaitForExit(60_000)) driver.Kill();
        }
    }
}
