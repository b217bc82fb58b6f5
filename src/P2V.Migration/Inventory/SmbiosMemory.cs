using System.Buffers.Binary;

namespace P2V.Migration.Inventory;

/// <summary>
/// The memory installed, from the SMBIOS structure table (/sys/firmware/dmi/tables/DMI): the sum of the Memory Device
/// (Type 17) sizes. The kernel's MemTotal is what is left after its own image and reservations (48 MiB of 96 on
/// Debian's kernel), not what the machine has, and the source document's 96 MB floor and a VM's size are about the machine.
/// DMTF DSP0134 (SMBIOS 3.x): 6.1.2 structure header (type, length, handle), 6.1.3 strings after the formatted area up
/// to a double NUL, 7.18 Memory Device: Size at 0Ch (bit 15: KB, else MB; 0: empty socket; FFFFh: unknown; 7FFFh: see
/// Extended Size at 1Ch, MB in bits 30:0), type 127 ends the table.
/// </summary>
public static class SmbiosMemory
{
    private const byte MemoryDevice = 17, EndOfTable = 127;

    /// <summary>The bytes of memory the table's memory devices hold; 0 when it lists none or cannot be read.</summary>
    public static long InstalledBytes(ReadOnlySpan<byte> table)
    {
        long total = 0;
        int at = 0;
        while (at + 4 <= table.Length)
        {
            byte type = table[at], length = table[at + 1];
            if (length < 4 || at + length > table.Length) return 0;   // a broken table says nothing for sure
            if (type == EndOfTable) break;
            if (type == MemoryDevice && length >= 0x0E) total += DeviceBytes(table.Slice(at, length));
            // The strings: up to the first double NUL after the formatted area (a structure without strings has two NULs).
            int end = table[(at + length)..].IndexOf((ReadOnlySpan<byte>)[0, 0]);
            if (end < 0) return 0;
            at += length + end + 2;
        }
        return total;
    }

    private static long DeviceBytes(ReadOnlySpan<byte> device)
    {
        ushort size = BinaryPrimitives.ReadUInt16LittleEndian(device[0x0C..]);
        if (size is 0 or 0xFFFF) return 0;
        if (size == 0x7FFF)
            return device.Length >= 0x20 ? (BinaryPrimitives.ReadUInt32LittleEndian(device[0x1C..]) & 0x7FFF_FFFFL) << 20 : 0;
        return (size & 0x8000) != 0 ? (long)(size & 0x7FFF) << 10 : (long)size << 20;
    }
}
