using System.Buffers.Binary;

namespace P2V.Migration.Inventory;

/// <summary>
/// The memory installed, from the SMBIOS structure table (/sys/firmware/dmi/tables/DMI): the sum of the Memory Device
/// (Type 17) sizes of the system-memory arrays. The kernel's MemTotal is what is left after its own image and
/// reservations (48 MiB of 96 on Debian's kernel), not what the machine has, and the source document's memory floor
/// and a VM's size are about the machine.
/// DMTF DSP0134 (SMBIOS 3.x): 6.1.2 structure header (type, length, handle), 6.1.3 strings after the formatted area up
/// to a double NUL; 7.17 Physical Memory Array (Type 16): Use at 05h (03h system memory; flash, video, cache otherwise);
/// 7.18 Memory Device (Type 17): array handle at 04h (FFFEh: none given), Size at 0Ch (bit 15: KB, else MB; 0: empty
/// socket; FFFFh: unknown; 7FFFh: see Extended Size at 1Ch, MB in bits 30:0, from 2.7 on — before, 32,767 MB as
/// written), Memory Technology at 28h (04h–07h: NVDIMMs and persistent memory, not RAM); type 127 ends the table.
/// </summary>
public static class SmbiosMemory
{
    private const byte MemoryArray = 16, MemoryDevice = 17, EndOfTable = 127;
    private const byte SystemMemory = 0x03;

    /// <summary>
    /// The bytes of RAM the table's memory devices hold; 0 when it lists none, a device's size is unknown (the sum
    /// would be short) or the table cannot be walked: the caller then has only the kernel's figure.
    /// </summary>
    public static long InstalledBytes(ReadOnlySpan<byte> table)
    {
        var structures = Walk(table);
        if (structures is null) return 0;
        // Devices of arrays that are not system memory (flash, video) do not count; where the firmware lists no
        // array at all, every device is taken as RAM.
        var systemArrays = new HashSet<ushort>();
        bool anyArray = false;
        foreach (var (at, length) in structures)
        {
            if (table[at] != MemoryArray || length < 0x06) continue;
            anyArray = true;
            if (table[at + 0x05] == SystemMemory) systemArrays.Add(BinaryPrimitives.ReadUInt16LittleEndian(table[(at + 2)..]));
        }
        long total = 0;
        foreach (var (at, length) in structures)
        {
            if (table[at] != MemoryDevice || length < 0x0E) continue;
            var device = table.Slice(at, length);
            ushort array = BinaryPrimitives.ReadUInt16LittleEndian(device[0x04..]);
            if (anyArray && array != 0xFFFE && !systemArrays.Contains(array)) continue;
            if (length > 0x28 && device[0x28] is >= 0x04 and <= 0x07) continue;
            long bytes = DeviceBytes(device);
            if (bytes < 0) return 0;
            total += bytes;
        }
        return total;
    }

    /// <summary>Each structure's offset and formatted length, up to the end-of-table structure; null when the table is cut or malformed.</summary>
    private static List<(int At, int Length)>? Walk(ReadOnlySpan<byte> table)
    {
        var structures = new List<(int, int)>();
        int at = 0;
        while (at + 4 <= table.Length)
        {
            byte type = table[at], length = table[at + 1];
            if (length < 4 || at + length > table.Length) return null;
            if (type == EndOfTable) return structures;
            structures.Add((at, length));
            // The strings: up to the first double NUL after the formatted area (a structure without strings has two NULs).
            int end = table[(at + length)..].IndexOf((ReadOnlySpan<byte>)[0, 0]);
            if (end < 0) return null;
            at += length + end + 2;
        }
        return structures;   // no end-of-table structure: what was read is whole
    }

    /// <summary>A device's bytes: 0 for an empty socket, -1 when its size is unknown.</summary>
    private static long DeviceBytes(ReadOnlySpan<byte> device)
    {
        ushort size = BinaryPrimitives.ReadUInt16LittleEndian(device[0x0C..]);
        if (size == 0) return 0;
        if (size == 0xFFFF) return -1;
        if (size == 0x7FFF)
            return device.Length >= 0x20 ? (BinaryPrimitives.ReadUInt32LittleEndian(device[0x1C..]) & 0x7FFF_FFFFL) << 20 : 0x7FFFL << 20;
        return (size & 0x8000) != 0 ? (long)(size & 0x7FFF) << 10 : (long)size << 20;
    }
}
