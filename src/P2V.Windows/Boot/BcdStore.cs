using System.Buffers.Binary;
using System.Globalization;
using P2V.Windows.Registry;

namespace P2V.Windows.Boot;

/// <summary>
/// A BCD device element's data (ApplicationDevice 0x11000001, OSDevice 0x21000001). Its layout is undocumented;
/// what is reliably known is the device type at offset 0x10 (5 = the boot device, 6 = a partition, 8 = a
/// ramdisk …). The raw bytes are kept for whoever needs more.
/// </summary>
public sealed record BcdDevice(uint DeviceType, byte[] Raw)
{
    public string Kind => DeviceType switch { 5 => "boot", 6 => "partition", 8 => "ramdisk", 2 => "file", _ => $"type {DeviceType}" };

    public static BcdDevice Parse(byte[] raw) => new(raw.Length >= 0x14 ? BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(0x10)) : 0, raw);
}

/// <summary>One object of a BCD store: an application (boot manager, OS loader, resume …) and its main elements.</summary>
public sealed record BcdEntry(Guid Id, uint Type, string? Description, string? ApplicationPath, string? SystemRoot,
    BcdDevice? ApplicationDevice, BcdDevice? OsDevice)
{
    public const uint BootManagerType = 0x10100002, OsLoaderType = 0x10200003, ResumeType = 0x10200004;

    public bool IsBootManager => Type == BootManagerType;
    public bool IsOsLoader => Type == OsLoaderType;
}

/// <summary>
/// A Vista+ Boot Configuration Data store (\Boot\BCD, or \EFI\Microsoft\Boot\BCD), read-only. A BCD store is a
/// regf hive: Objects\{GUID}\Description\Type gives each object's type, Objects\{GUID}\Elements\{type}\Element its
/// elements — 12000004 description, 12000002 application path, 11000001 application device, 21000001 OS
/// device, 22000002 system root, and on the boot manager 23000003 default object, 24000001 display order,
/// 25000004 timeout (element types as documented for BcdLibraryElementTypes / BcdOSLoaderElementTypes /
/// BcdBootMgrElementTypes in the Windows SDK's BCD WMI provider reference).
/// </summary>
public sealed class BcdStore
{
    public static readonly Guid BootManagerId = new("9dea862c-5cdd-4e70-acc1-f32b344d4795");

    public IReadOnlyList<BcdEntry> Entries { get; }
    public Guid? DefaultId { get; }
    public IReadOnlyList<Guid> DisplayOrder { get; }
    public ulong? Timeout { get; }

    public BcdEntry? BootManager => Entries.FirstOrDefault(e => e.Id == BootManagerId) ?? Entries.FirstOrDefault(e => e.IsBootManager);
    public BcdEntry? Default => DefaultId is { } id ? Entries.FirstOrDefault(e => e.Id == id) : null;

    private BcdStore(List<BcdEntry> entries, Guid? defaultId, List<Guid> order, ulong? timeout)
    {
        Entries = entries;
        DefaultId = defaultId;
        DisplayOrder = order;
        Timeout = timeout;
    }

    /// <summary>Whether the hive looks like a BCD store (an Objects key of GUID-named keys).</summary>
    public static bool IsBcd(RegistryHive hive) =>
        hive.Root.OpenSubkey("Objects") is { } objects && objects.SubkeyNames.Any(n => Guid.TryParse(n, out _));

    public static BcdStore Read(RegistryHive hive)
    {
        var objects = hive.Root.OpenSubkey("Objects")
            ?? throw new RegistryHiveException(hive.Name, hive.Root.Offset, "not a BCD store: the root has no Objects key");
        var entries = new List<BcdEntry>();
        foreach (var obj in objects.Subkeys)
        {
            if (!Guid.TryParse(obj.Name, out var id)) continue;
            uint type = obj.OpenSubkey("Description")?.GetDWord("Type") ?? 0;
            var elements = obj.OpenSubkey("Elements");
            RegistryValue? E(uint element) => elements?.OpenSubkey(element.ToString("X8", CultureInfo.InvariantCulture))?.GetValue("Element");
            BcdDevice? Device(uint element) => E(element) is { } v ? BcdDevice.Parse(v.Data) : null;
            entries.Add(new BcdEntry(id, type, E(0x12000004)?.AsString(), E(0x12000002)?.AsString(), E(0x22000002)?.AsString(),
                Device(0x11000001), Device(0x21000001)));
        }
        Guid? defaultId = null;
        var order = new List<Guid>();
        ulong? timeout = null;
        var manager = objects.OpenSubkey(BootManagerId.ToString("B"))?.OpenSubkey("Elements");
        if (manager is not null)
        {
            if (Guid.TryParse(manager.OpenSubkey("23000003")?.GetString("Element"), out var d)) defaultId = d;
            foreach (var s in manager.OpenSubkey("24000001")?.GetMultiString("Element") ?? [])
                if (Guid.TryParse(s, out var g)) order.Add(g);
            if (manager.OpenSubkey("25000004")?.GetValue("Element") is { Data.Length: >= 8 } t) timeout = t.AsQWord();
        }
        return new BcdStore(entries, defaultId, order, timeout);
    }
}
