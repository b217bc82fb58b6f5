using System.Reflection;
using P2V.Migration.Inventory;

namespace P2V.Agent;

/// <summary>
/// p2v.selftest=1: one line that shows the boot image works — the agent ran, and the disks and NICs the kernel's
/// drivers found (read from sysfs as the capture's inventory reads them). The smoke test of a built image.
/// </summary>
public static class SelfTest
{
    public static string Version =>
        typeof(SelfTest).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";

    public static string Line(string root = "/")
    {
        var hw = new HardwareGatherer(new SysfsTree(root));
        var disks = hw.Disks().Select(d => $"{d.Name}:{d.SizeBytes}:{d.Bus.ToString().ToLowerInvariant()}:{(d.Driver.Length > 0 ? d.Driver : "-")}");
        var nics = hw.NetworkAdapters().Select(n => $"{n.Name}:{n.Mac}:{(n.Driver.Length > 0 ? n.Driver : "-")}");
        return $"p2v-agent {Version} disks={string.Join(',', disks)} nics={string.Join(',', nics)} memory={hw.MemoryBytes() >> 20}MiB";
    }
}
