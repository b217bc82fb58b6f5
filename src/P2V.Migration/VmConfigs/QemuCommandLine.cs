using P2V.Imaging.VirtualDisks;
using System.Globalization;
using System.Text;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A POSIX sh script that starts the VM with qemu-system-x86_64 on the "pc" machine. Environment variables
/// choose what differs between hosts: P2V_QEMU (the binary), P2V_QEMU_ACCEL (default kvm:tcg),
/// P2V_QEMU_NETDEV (default the bridge of the NIC's network, made by its .bridge.sh); arguments are passed on to QEMU
/// (e.g. "-display none -serial stdio").
/// </summary>
public static class QemuCommandLine
{
    /// <summary>The QEMU block driver name of a disk format ("vpc" is QEMU's name for VHD).</summary>
    public static string QemuFormat(VirtualDiskFormat f) => f switch
    {
        VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed => "vpc",
        VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed => "vhdx",
        VirtualDiskFormat.Vmdk => "vmdk",
        _ => "raw",
    };

    /// <summary>The arguments after the binary; "$ACCEL" and "$NETDEV" stand for the variables the script expands.</summary>
    public static IReadOnlyList<string> Arguments(MigrationPlan plan)
    {
        var a = new List<string>
        {
            "-name", plan.Name,
            "-machine", "pc,accel=$ACCEL" + (plan.Guest.Acpi ? "" : ",acpi=off"),
            "-m", plan.MemoryMB.ToString(CultureInfo.InvariantCulture),
            "-smp", plan.Vcpus.ToString(CultureInfo.InvariantCulture),
            "-rtc", "base=localtime",
        };
        foreach (var c in plan.Disks.Where(d => d.Bus == VmDiskBus.Scsi).Select(d => d.Controller).Distinct().Order())
            a.AddRange(["-device", $"lsi53c895a,id=scsi{c}"]);
        for (int i = 0; i < plan.Disks.Count; i++)
        {
            var d = plan.Disks[i];
            var file = "file=" + d.File.Replace(",", ",,", StringComparison.Ordinal) + ",format=" + QemuFormat(d.Format);
            if (d.Bus == VmDiskBus.Ide)
                a.AddRange(["-drive", $"{file},if=ide,bus={d.Controller},unit={d.Unit},media=disk"]);
            else if (d.Bus == VmDiskBus.Virtio)
                a.AddRange(["-drive", $"{file},if=virtio"]);   // a virtio-blk-pci device each; SeaBIOS boots from it
            else
                a.AddRange(["-drive", $"{file},if=none,id=disk{i}", "-device", $"scsi-hd,bus=scsi{d.Controller}.0,scsi-id={d.Unit},drive=disk{i}"]);
        }
        a.AddRange(["-drive", "file=" + plan.Floppy.Replace(",", ",,", StringComparison.Ordinal) + ",format=raw,if=floppy,index=0"]);
        // a = floppy first: its iPXE starts the deploy; c = the first hard disk once deployed.
        a.AddRange(["-boot", "order=ac"]);
        // -nic: a backend and its NIC in one option (QEMU 2.12+, docs/system/invocation "-nic").
        for (int i = 0; i < plan.Nics.Count; i++)
            a.AddRange(["-nic", $"$NETDEV{i},model={plan.Nics[i].Model},mac={plan.Nics[i].Mac}"]);
        return a;
    }

    public static string Write(MigrationPlan plan)
    {
        var s = new StringBuilder();
        s.Append("#!/bin/sh\n");
        s.Append($"# QEMU VM '{plan.Name}': written by p2v plan. Arguments are passed on to QEMU, e.g. -display none -serial stdio.\n");
        s.Append("# P2V_QEMU: the binary; P2V_QEMU_ACCEL: kvm, tcg or kvm:tcg; P2V_QEMU_NETDEV: a -netdev backend for every NIC (e.g. user).\n");
        s.Append("set -eu\n");
        s.Append("ACCEL=${P2V_QEMU_ACCEL:-kvm:tcg}\n");
        for (int i = 0; i < plan.Nics.Count; i++)
            s.Append($"NETDEV{i}=${{P2V_QEMU_NETDEV:-bridge,br={Bridge(plan, plan.Nics[i].Network)}}}\n");
        s.Append("exec \"${P2V_QEMU:-qemu-system-x86_64}\"");
        // One option and its value per line.
        var args = Arguments(plan);
        for (int i = 0; i < args.Count; i++)
        {
            s.Append(" \\\n  ").Append(Sh(args[i]));
            if (args[i].StartsWith('-') && i + 1 < args.Count && !args[i + 1].StartsWith('-'))
                s.Append(' ').Append(Sh(args[++i]));
        }
        s.Append(" \\\n  \"$@\"\n");
        return s.ToString();
    }

    /// <summary>The bridge that carries a network (its .bridge.sh makes it); a plan without networks names bridges by network.</summary>
    private static string Bridge(MigrationPlan plan, string network) => plan.Networks.FirstOrDefault(n => n.Name == network)?.Bridge ?? network;

    /// <summary>
    /// A word for sh: double-quoted so "$ACCEL"/"$NETDEVn" expand, with every other $, `, " and \ escaped.
    /// </summary>
    internal static string Sh(string word)
    {
        var b = new StringBuilder("\"");
        for (int i = 0; i < word.Length; i++)
        {
            char c = word[i];
            if (c == '$' && (Matches(word, i, "$ACCEL") || Matches(word, i, "$NETDEV"))) { b.Append(c); continue; }
            if (c is '$' or '`' or '"' or '\\') b.Append('\\');
            b.Append(c);
        }
        return b.Append('"').ToString();
    }

    private static bool Matches(string s, int i, string token) => string.CompareOrdinal(s, i, token, 0, token.Length) == 0;
}
