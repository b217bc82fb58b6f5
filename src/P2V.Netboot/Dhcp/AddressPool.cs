using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace P2V.Netboot.Dhcp;

/// <summary>
/// The addresses full-mode DHCP hands out: a range, the leases (persisted by <see cref="LeaseStore"/>), the offers
/// still pending, and the addresses found in use by someone else (declined by a client, or answering a probe).
/// All state changes happen under one short lock that never waits for the network: probing is the listener's
/// business (<see cref="IAddressProbe"/>), whose result comes back through <see cref="RecordProbe"/>.
/// </summary>
public sealed class AddressPool
{
    /// <summary>How long an offered address is held for the client it was offered to (RFC 2131 §4.3.1: the server
    /// need not reserve it, but avoiding a second offer of it makes the protocol work better).</summary>
    public static readonly TimeSpan OfferHold = TimeSpan.FromSeconds(60);
    /// <summary>How long an address declined by a client or answering a probe stays out of offers.</summary>
    public static readonly TimeSpan ConflictHold = TimeSpan.FromMinutes(10);
    /// <summary>How long a probe that found an address silent is trusted.</summary>
    public static readonly TimeSpan ProbedFreeHold = TimeSpan.FromMinutes(5);

    private readonly uint _first, _last;
    private readonly HashSet<uint> _reserved;
    private readonly LeaseStore _leases;
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, (string Mac, DateTimeOffset Until)> _offered = [];
    private readonly Dictionary<uint, DateTimeOffset> _conflicts = [];
    private readonly Dictionary<uint, DateTimeOffset> _probedFree = [];

    /// <param name="reserved">Addresses inside the range never handed out (our own, the router's).</param>
    public AddressPool(IPAddress first, IPAddress last, IEnumerable<IPAddress> reserved, LeaseStore leases)
    {
        if (first.AddressFamily != AddressFamily.InterNetwork || last.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException("the DHCP range must be IPv4 addresses");
        _first = ToUInt(first);
        _last = ToUInt(last);
        if (_last < _first) throw new ArgumentException($"the DHCP range {first}-{last} ends before it starts");
        _reserved = reserved.Where(a => a.AddressFamily == AddressFamily.InterNetwork).Select(ToUInt).ToHashSet();
        _leases = leases;
    }

    public LeaseStore Leases => _leases;

    public bool InRange(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork && ToUInt(address) is var a && a >= _first && a <= _last;

    /// <summary>
    /// Picks the address to offer <paramref name="mac"/> and holds it for that client (RFC 2131 §4.3.1, in its order):
    /// the client's current binding; an offer already pending for it; the address it asked for (option 50) when
    /// valid and free; a free address never leased; else the longest-expired lease of another client. Null when
    /// the range is exhausted.
    /// </summary>
    public IPAddress? Offer(string mac, IPAddress? requested, DateTimeOffset now)
    {
        lock (_lock)
        {
            var chosen = Choose(mac, requested, now);
            if (chosen is { } a) _offered[a] = (mac, now + OfferHold);
            return chosen is { } c ? FromUInt(c) : null;
        }
    }

    private uint? Choose(string mac, IPAddress? requested, DateTimeOffset now)
    {
        if (_leases.ForMac(mac) is { } lease && IPAddress.TryParse(lease.Address, out var mine) && IsAvailable(mine, mac, now)) return ToUInt(mine);
        foreach (var (address, offer) in _offered)
            if (offer.Mac == mac && offer.Until > now && IsAvailable(FromUInt(address), mac, now)) return address;
        if (requested != null && IsAvailable(requested, mac, now)) return ToUInt(requested);
        for (uint a = _first; a <= _last && a >= _first; a++)
        {
            var candidate = FromUInt(a);
            if (_leases.ForAddress(candidate) != null) continue; // expired leases are reused last
            if (IsAvailable(candidate, mac, now)) return a;
        }
        return _leases.Leases
            .Where(l => l.Expires < now && IPAddress.TryParse(l.Address, out var x) && IsAvailable(x, mac, now))
            .OrderBy(l => l.Expires)
            .Select(l => (uint?)ToUInt(IPAddress.Parse(l.Address)))
            .FirstOrDefault();
    }

    /// <summary>True when <paramref name="address"/> may be given to <paramref name="mac"/> now.</summary>
    public bool IsAvailableTo(IPAddress address, string mac, DateTimeOffset now)
    {
        lock (_lock) return IsAvailable(address, mac, now);
    }

    private bool IsAvailable(IPAddress address, string mac, DateTimeOffset now)
    {
        if (!InRange(address)) return false;
        uint a = ToUInt(address);
        if (_reserved.Contains(a)) return false;
        if (_conflicts.TryGetValue(a, out var until) && until > now) return false;
        if (_offered.TryGetValue(a, out var offer) && offer.Mac != mac && offer.Until > now) return false;
        var lease = _leases.ForAddress(address);
        return lease == null || lease.Mac.Equals(mac, StringComparison.OrdinalIgnoreCase) || lease.Expires < now;
    }

    /// <summary>Commits the binding (RFC 2131 §4.3.2, the DHCPACK); false, and nothing changed, when the address is not the client's to have.</summary>
    public bool TryBind(string mac, IPAddress address, string? hostName, TimeSpan leaseTime, DateTimeOffset now, out DhcpLease lease)
    {
        lock (_lock)
        {
            lease = new DhcpLease(mac, address.ToString(), now + leaseTime, hostName);
            if (!IsAvailable(address, mac, now)) return false;
            _offered.Remove(ToUInt(address));
            _leases.Set(lease);
            return true;
        }
    }

    /// <summary>The client's current, unexpired lease.</summary>
    public DhcpLease? LeaseOf(string mac, DateTimeOffset now)
    {
        lock (_lock) return _leases.ForMac(mac) is { } l && l.Expires >= now ? l : null;
    }

    /// <summary>The client took another server's offer (RFC 2131 §4.3.2, SELECTING with a foreign server identifier).</summary>
    public void Withdraw(string mac)
    {
        lock (_lock)
            foreach (var k in _offered.Where(o => o.Value.Mac == mac).Select(o => o.Key).ToList()) _offered.Remove(k);
    }

    /// <summary>The client found the address in use (RFC 2131 §3.1.5, §4.3.3): out of offers for a while, its lease gone.</summary>
    public bool Decline(string mac, IPAddress address, DateTimeOffset now)
    {
        if (!InRange(address)) return false;
        lock (_lock)
        {
            MarkConflict(ToUInt(address), now);
            if (_leases.ForMac(mac)?.Address == address.ToString()) _leases.Remove(mac);
            return true;
        }
    }

    /// <summary>The client gives its address back (RFC 2131 §4.3.4); false when it did not hold it.</summary>
    public bool Release(string mac, IPAddress address)
    {
        lock (_lock)
        {
            if (_leases.ForMac(mac)?.Address != address.ToString()) return false;
            _leases.Remove(mac);
            return true;
        }
    }

    /// <summary>
    /// Whether an address about to be given to <paramref name="mac"/> should be probed first (RFC 2131 §3.1 step 2:
    /// "servers SHOULD check that the offered network address is not already in use"): not the client's own
    /// binding (the client would answer for itself), and not an address a probe found silent a short while ago.
    /// </summary>
    public bool NeedsProbe(IPAddress address, string mac, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_leases.ForMac(mac)?.Address == address.ToString()) return false;
            return !(_probedFree.TryGetValue(ToUInt(address), out var until) && until > now);
        }
    }

    /// <summary>A probe's result: an answering address is a conflict, and any offer of it is withdrawn.</summary>
    public void RecordProbe(IPAddress address, bool answered, DateTimeOffset now)
    {
        if (!InRange(address)) return;
        lock (_lock)
        {
            uint a = ToUInt(address);
            if (answered) MarkConflict(a, now);
            else _probedFree[a] = now + ProbedFreeHold;
        }
    }

    private void MarkConflict(uint address, DateTimeOffset now)
    {
        _conflicts[address] = now + ConflictHold;
        _offered.Remove(address);
        _probedFree.Remove(address);
    }

    internal static uint ToUInt(IPAddress a) => BinaryPrimitives.ReadUInt32BigEndian(a.GetAddressBytes());

    internal static IPAddress FromUInt(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return new IPAddress(b);
    }
}
