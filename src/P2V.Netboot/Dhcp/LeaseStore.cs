using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2V.Imaging;

namespace P2V.Netboot.Dhcp;

/// <summary>One address given to one client until <see cref="Expires"/>.</summary>
public sealed record DhcpLease(string Mac, string Address, DateTimeOffset Expires, string? HostName);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(List<DhcpLease>))]
internal sealed partial class LeaseJsonContext : JsonSerializerContext;

/// <summary>
/// Leases of full-mode DHCP, kept in a JSON file so a restarted server gives every client its address back.
/// Each change rewrites the file atomically (a temporary file beside it, flushed, then renamed over it), so a
/// crash leaves the old or the new list, never half of one.
/// </summary>
public sealed class LeaseStore
{
    private readonly string? _path;
    private readonly Dictionary<string, DhcpLease> _byMac = new(StringComparer.OrdinalIgnoreCase);

    public LeaseStore(string? path)
    {
        _path = path;
        if (path == null || !File.Exists(path)) return;
        List<DhcpLease>? leases;
        try { leases = JsonSerializer.Deserialize(File.ReadAllText(path), LeaseJsonContext.Default.ListDhcpLease); }
        catch (JsonException e) { throw new InvalidDataException($"lease file {path} is not valid: {e.Message}", e); }
        foreach (var l in leases ?? [])
            if (IPAddress.TryParse(l.Address, out _)) _byMac[l.Mac] = l;
    }

    public IReadOnlyCollection<DhcpLease> Leases => _byMac.Values;

    public DhcpLease? ForMac(string mac) => _byMac.GetValueOrDefault(mac);

    public DhcpLease? ForAddress(IPAddress address)
    {
        var text = address.ToString();
        return _byMac.Values.FirstOrDefault(l => l.Address == text);
    }

    public void Set(DhcpLease lease)
    {
        // An address belongs to one client: a stale lease of another MAC on it goes.
        foreach (var other in _byMac.Values.Where(l => l.Address == lease.Address && !l.Mac.Equals(lease.Mac, StringComparison.OrdinalIgnoreCase)).ToList())
            _byMac.Remove(other.Mac);
        _byMac[lease.Mac] = lease;
        Save();
    }

    public void Remove(string mac)
    {
        if (_byMac.Remove(mac)) Save();
    }

    private void Save()
    {
        if (_path == null) return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_path))!);
        AtomicFile.WriteAllBytes(_path, JsonSerializer.SerializeToUtf8Bytes(_byMac.Values.OrderBy(l => l.Mac).ToList(), LeaseJsonContext.Default.ListDhcpLease));
    }
}
