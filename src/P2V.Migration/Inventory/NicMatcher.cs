using System.Globalization;
using P2V.Windows;

namespace P2V.Migration.Inventory;

/// <summary>
/// Gives each adapter sysfs found the IP configuration the installation holds for it. The registry knows an adapter
/// by its PCI location and hardware id, never by its MAC (unless overridden): a binding is matched by PCI location
/// first (and its vendor/device ids, when recorded, must agree), then by vendor/device ids when exactly one adapter
/// and one binding are left with them, and last, when one adapter and one binding are left at all (NT 4.0 records
/// neither for ISA cards). What stays unmatched is a note, never a guess.
/// </summary>
public static class NicMatcher
{
    public static IReadOnlyList<NetworkAdapterInfo> Match(IReadOnlyList<NetworkAdapterInfo> nics, IReadOnlyList<TcpipBinding> bindings, List<string> notes)
    {
        var result = nics.ToArray();
        var left = bindings.ToList();
        var open = Enumerable.Range(0, result.Length).ToList();
        void Take(int i, TcpipBinding b)
        {
            result[i] = result[i] with { Ip = b.Ip };
            left.Remove(b);
            open.Remove(i);
        }

        foreach (var i in open.ToList())
            if (Location(result[i].PciAddress) is { } at
                && left.FirstOrDefault(b => b.PciLocation == at && (b.VendorId is null || b.VendorId == result[i].VendorId && b.DeviceId == result[i].DeviceId)) is { } b)
                Take(i, b);
        foreach (var group in open.GroupBy(i => (result[i].VendorId, result[i].DeviceId)).ToList())
        {
            var candidates = left.Where(b => b.VendorId == group.Key.VendorId && b.DeviceId == group.Key.DeviceId).ToList();
            if (group.Count() == 1 && candidates.Count == 1) Take(group.Single(), candidates[0]);
        }
        if (open.Count == 1 && left.Count == 1 && (left[0].VendorId is null || left[0].VendorId == result[open[0]].VendorId))
            Take(open[0], left[0]);

        foreach (var b in left)
            notes.Add($"TCP/IP settings of adapter {b.Binding}{(b.Description is { } d ? $" ({d})" : "")} match no network adapter found here; "
                + "its network is not planned from them");
        return result;
    }

    /// <summary>"0000:02:00.0" → (2, 0, 0).</summary>
    internal static (int Bus, int Device, int Function)? Location(string pciAddress)
    {
        var parts = pciAddress.Split(':', '.');
        return parts.Length == 4
            && int.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var bus)
            && int.TryParse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dev)
            && int.TryParse(parts[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var fn)
            ? (bus, dev, fn) : null;
    }
}
