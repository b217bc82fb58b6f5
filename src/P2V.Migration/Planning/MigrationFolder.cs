using System.Text;
using P2V.Migration.Inventory;
using P2V.Migration.VmConfigs;
using P2V.Windows;

namespace P2V.Migration.Planning;

/// <summary>What `p2v plan` writes: plan.json, the inventory it came from, the scripts and the target's VM configuration.</summary>
public static class MigrationFolder
{
    /// <summary>The configuration file's bytes for the plan's target.</summary>
    public static byte[] Configuration(MigrationPlan plan) => plan.Target switch
    {
        TargetKind.VirtualServer => VirtualServerVmc.Write(plan),
        TargetKind.HyperV => Encoding.UTF8.GetBytes(HyperVScript.Write(plan)),
        TargetKind.Libvirt => Encoding.UTF8.GetBytes(LibvirtDomain.Write(plan)),
        TargetKind.Qemu => Encoding.UTF8.GetBytes(QemuCommandLine.Write(plan)),
        TargetKind.Vmware => Encoding.UTF8.GetBytes(VmwareVmx.Write(plan)),
        _ => throw new ArgumentOutOfRangeException(nameof(plan)),
    };

    /// <summary>Each network's definition (<see cref="PlannedNetwork.Definition"/>) as bytes; Hyper-V and VMware have none.</summary>
    public static IReadOnlyList<(PlannedNetwork Network, byte[] Bytes)> NetworkDefinitions(MigrationPlan plan) =>
        [.. plan.Networks.Where(n => n.Definition is not null).Select(n => (n, plan.Target switch
        {
            TargetKind.VirtualServer => VirtualServerVnc.Write(n),
            TargetKind.Libvirt => Encoding.UTF8.GetBytes(LibvirtNetwork.Write(n)),
            TargetKind.Qemu => Encoding.UTF8.GetBytes(QemuBridgeScript.Write(n)),
            _ => throw new ArgumentOutOfRangeException(nameof(plan), $"{plan.Target} keeps no network definition files"),
        }))];

    public static IReadOnlyList<string> Write(MigrationPlan plan, SourceInventory inventory, string folder)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        void Put(string name, byte[] bytes, bool executable = false)
        {
            var path = Path.Combine(folder, name);
            File.WriteAllBytes(path, bytes);
            if (executable && !OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            written.Add(path);
        }
        Put("plan.json", Encoding.UTF8.GetBytes(plan.ToJson() + "\n"));
        InventoryXml.Save(inventory, Path.Combine(folder, plan.Inventory));
        written.Add(Path.Combine(folder, plan.Inventory));
        foreach (var (name, text) in MigrationScripts.Write(plan))
            Put(name, Encoding.UTF8.GetBytes(text), executable: name.EndsWith(".sh", StringComparison.Ordinal));
        Put(HostPath.FileName(plan.ConfigFile), Configuration(plan), executable: plan.Target == TargetKind.Qemu);
        foreach (var (network, bytes) in NetworkDefinitions(plan))
            Put(HostPath.FileName(network.Definition!), bytes, executable: plan.Target == TargetKind.Qemu);
        return written;
    }
}
