using System.Globalization;
using System.Text;
using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A VMware .vmx: one "key = "value"" line per setting, UTF-8 (".encoding"). Disks are VMDK descriptors
/// (<see cref="VmdkDescriptor"/>) named relative to the .vmx when beside it. The source MACs lie outside VMware's
/// static range (00:50:56:00–3F), so each adapter sets checkMACAddress = "FALSE" to keep them.
/// </summary>
public static class VmwareVmx
{
    public static string Write(MigrationPlan plan)
    {
        VmConfigGuard.NoVirtio(plan);
        var lines = new List<(string Key, string Value)>
        {
            (".encoding", "UTF-8"),
            ("config.version", "8"),
            ("virtualHW.version", "19"),
            ("displayName", plan.Name),
            ("annotation", $"Migrated by P2V.Boot. HAL: {plan.Hal.Reason}"),
            ("guestOS", GuestOs(plan.Guest)),
            ("memsize", plan.MemoryMB.ToString(CultureInfo.InvariantCulture)),
            ("numvcpus", plan.Vcpus.ToString(CultureInfo.InvariantCulture)),
            ("firmware", "bios"),
            ("bios.bootOrder", "floppy,hdd"),
        };
        foreach (var c in plan.Disks.Where(d => d.Bus == VmDiskBus.Scsi).Select(d => d.Controller).Distinct().Order())
        {
            lines.Add(($"scsi{c}.present", "TRUE"));
            // BusLogic for NT 4.0 and 2000 (their inbox driver), LSI Logic for 2003 and later.
            lines.Add(($"scsi{c}.virtualDev", plan.Guest.IsBefore(5, 1) ? "buslogic" : "lsilogic"));
        }
        foreach (var d in plan.Disks)
        {
            var key = d.Bus == VmDiskBus.Ide ? $"ide{d.Controller}:{d.Unit}" : $"scsi{d.Controller}:{d.Unit}";
            lines.Add(($"{key}.present", "TRUE"));
            lines.Add(($"{key}.fileName", Relative(plan, d.File)));
            lines.Add(($"{key}.deviceType", d.Bus == VmDiskBus.Ide ? "ata-hardDisk" : "scsi-hardDisk"));
        }
        for (int i = 0; i < plan.Nics.Count; i++)
        {
            var n = plan.Nics[i];
            lines.Add(($"ethernet{i}.present", "TRUE"));
            lines.Add(($"ethernet{i}.virtualDev", n.Model));
            // networkName: the port group on ESXi; Workstation attaches by vnet, which must be one of its vmnetN switches.
            lines.Add(($"ethernet{i}.networkName", n.Network));
            if (IsWorkstationSwitch(n.Network))
            {
                lines.Add(($"ethernet{i}.connectionType", "custom"));
                lines.Add(($"ethernet{i}.vnet", n.Network));
            }
            lines.Add(($"ethernet{i}.addressType", "static"));
            lines.Add(($"ethernet{i}.address", n.Mac.ToUpperInvariant()));
            lines.Add(($"ethernet{i}.checkMACAddress", "FALSE"));
        }
        lines.Add(("floppy0.present", "TRUE"));
        lines.Add(("floppy0.fileType", "file"));
        lines.Add(("floppy0.fileName", Relative(plan, plan.Floppy)));
        lines.Add(("floppy0.startConnected", "TRUE"));

        var s = new StringBuilder();
        foreach (var (k, v) in lines)
            s.Append(k).Append(" = \"").Append(Escape(v)).Append("\"\n");
        return s.ToString();
    }

    /// <summary>"vmnet0" … "vmnet19": VMware Workstation's virtual switches.</summary>
    internal static bool IsWorkstationSwitch(string network) =>
        network.StartsWith("vmnet", StringComparison.Ordinal) && int.TryParse(network.AsSpan(5), System.Globalization.NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 19;

    /// <summary>VMware guestOS identifiers by Windows version.</summary>
    internal static string GuestOs(PlannedGuest g) => g.Version switch
    {
        null => "other",
        var v when v.StartsWith("4.", StringComparison.Ordinal) => "winnt",
        "5.0" => "win2000serv",
        "5.1" => "winxppro",
        "5.2" => "winnetenterprise",
        "6.0" => "longhorn",
        "6.1" => "windows7srv-64",
        "6.2" or "6.3" => "windows8srv-64",
        _ => "windows9srv-64",
    };

    private static string Relative(MigrationPlan plan, string path)
    {
        var name = HostPath.FileName(path);
        return string.Equals(path[..^name.Length], plan.ConfigFile[..^HostPath.FileName(plan.ConfigFile).Length], StringComparison.Ordinal) ? name : path;
    }

    /// <summary>.vmx values escape '|' and '"' as |7C and |22 (VMware's own escaping); '#' would start a comment.</summary>
    private static string Escape(string v) => v.Replace("|", "|7C", StringComparison.Ordinal).Replace("\"", "|22", StringComparison.Ordinal).Replace("#", "|23", StringComparison.Ordinal);
}

/// <summary>
/// A VMDK "monolithicFlat" descriptor (VMware Virtual Disk Format 1.1, "The Descriptor File"): a text file naming
/// one FLAT extent, a raw image of the disk in a "-flat.vmdk" file beside it.
/// </summary>
public static class VmdkDescriptor
{
    public static string Write(string flatFileName, long sizeBytes, string adapterType)
    {
        long sectors = sizeBytes / 512;
        // The BIOS geometry VMware records: 255 heads × 63 sectors, cylinders capped at 65535.
        long cylinders = Math.Min(65535, sectors / (255 * 63));
        var cid = Random.Shared.Next(1, int.MaxValue).ToString("x8", CultureInfo.InvariantCulture);
        return "# Disk DescriptorFile\n"
            + "version=1\n"
            + $"CID={cid}\n"
            + "parentCID=ffffffff\n"
            + "createType=\"monolithicFlat\"\n\n"
            + "# Extent description\n"
            + $"RW {sectors} FLAT \"{flatFileName}\" 0\n\n"
            + "# The Disk Data Base\n"
            + "#DDB\n\n"
            + "ddb.virtualHWVersion = \"19\"\n"
            + $"ddb.geometry.cylinders = \"{cylinders}\"\n"
            + "ddb.geometry.heads = \"255\"\n"
            + "ddb.geometry.sectors = \"63\"\n"
            + $"ddb.adapterType = \"{adapterType}\"\n";
    }
}
