using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// $UpCase: the upper-case form of every UTF-16 code unit, as the volume's formatter defined it. File
/// names in $I30 indexes are collated by it (COLLATION_FILE_NAME), so lookups must use the volume's own
/// table, not the host's culture. Layout: NTFS Documentation, "Files: $UpCase" — 65536 little-endian u16.
/// </summary>
public sealed class UpcaseTable
{
    public const int Entries = 65536;
    public const int Size = Entries * 2;

    private readonly char[] _map;

    private UpcaseTable(char[] map) => _map = map;

    public static UpcaseTable Parse(ReadOnlySpan<byte> value, long volumeOffset)
    {
        if (value.Length < Size)
            throw new NtfsException(volumeOffset, $"$UpCase: {value.Length} bytes, expected {Size}");
        var map = new char[Entries];
        for (int i = 0; i < Entries; i++) map[i] = (char)BinaryPrimitives.ReadUInt16LittleEndian(value[(2 * i)..]);
        return new UpcaseTable(map);
    }

    public char ToUpper(char c) => _map[c];

    /// <summary>Orders two names as an $I30 index does: code unit by code unit after upcasing, shorter first.</summary>
    public int Compare(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++)
        {
            int d = _map[a[i]] - _map[b[i]];
            if (d != 0) return d;
        }
        return a.Length - b.Length;
    }
}
