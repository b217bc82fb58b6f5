using System.Buffers.Binary;
using System.Text;

namespace P2V.Windows.Cabinet;

/// <summary>
/// CFFILE ([MS-CAB] § 2.3): a file's uncompressed size, its offset within its folder's uncompressed data, the
/// folder index, DOS date/time, attributes and NUL-terminated name (UTF-8 when attribute 0x80 is set, else the
/// ANSI code page; read as Latin-1).
/// </summary>
public sealed record CabinetFile(string Name, uint Size, uint FolderOffset, ushort FolderIndex, DateTime LastWritten, ushort Attributes)
{
    private const ushort NameIsUtf8 = 0x80;
    /// <summary>Folder indices 0xFFFD–0xFFFF mean the file continues from or into another cabinet of a set.</summary>
    public bool SpansCabinets => FolderIndex >= 0xFFFD;

    internal static CabinetFile Parse(ReadOnlySpan<byte> b, string cab, long at, out int length)
    {
        if (b.Length < 17) throw new CabinetException(cab, at, "CFFILE entry runs past the end of the cabinet");
        int nul = b[16..].IndexOf((byte)0);
        if (nul < 0 || nul > 1024) throw new CabinetException(cab, at, "CFFILE name is not NUL-terminated");
        ushort attributes = BinaryPrimitives.ReadUInt16LittleEndian(b[14..]);
        var name = (attributes & NameIsUtf8) != 0 ? Encoding.UTF8.GetString(b.Slice(16, nul)) : Encoding.Latin1.GetString(b.Slice(16, nul));
        length = 16 + nul + 1;
        return new CabinetFile(name, BinaryPrimitives.ReadUInt32LittleEndian(b), BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(b[8..]), DosTime(BinaryPrimitives.ReadUInt16LittleEndian(b[10..]), BinaryPrimitives.ReadUInt16LittleEndian(b[12..])),
            attributes);
    }

    private static DateTime DosTime(ushort date, ushort time)
    {
        int year = 1980 + (date >> 9), month = (date >> 5) & 15, day = date & 31;
        int hour = time >> 11, minute = (time >> 5) & 63, second = (time & 31) * 2;
        try { return new DateTime(year, Math.Max(1, month), Math.Max(1, day), Math.Min(hour, 23), Math.Min(minute, 59), Math.Min(second, 59)); }
        catch (ArgumentOutOfRangeException) { return DateTime.MinValue; }
    }
}
