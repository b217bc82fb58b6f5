using System.Buffers.Binary;

namespace P2V.Windows.Cabinet;

/// <summary>
/// CFDATA header ([MS-CAB] § 2.4): checksum, compressed and uncompressed byte counts (an uncompressed block is at
/// most 32768 bytes), then the folder's reserve bytes and the data.
/// </summary>
internal readonly record struct CabinetDataBlock(uint Checksum, ushort CompressedSize, ushort UncompressedSize)
{
    public const int FixedLength = 8;
    public const int MaxUncompressed = 32768;

    public static CabinetDataBlock Parse(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(b), BinaryPrimitives.ReadUInt16LittleEndian(b[4..]), BinaryPrimitives.ReadUInt16LittleEndian(b[6..]));

    /// <summary>
    /// The CFDATA checksum ([MS-CAB] § 4 "Checksum Method"): XOR of the data as little-endian 32-bit words, the
    /// 1–3 trailing bytes folded in high byte first, seeded into the same over cbData, cbUncomp and the reserve.
    /// </summary>
    public static uint Compute(ReadOnlySpan<byte> data, uint seed)
    {
        uint csum = seed;
        int words = data.Length / 4;
        for (int i = 0; i < words; i++) csum ^= BinaryPrimitives.ReadUInt32LittleEndian(data[(i * 4)..]);
        var tail = data[(words * 4)..];
        uint ul = 0;
        switch (tail.Length)
        {
            case 3: ul = (uint)tail[0] << 16 | (uint)tail[1] << 8 | tail[2]; break;
            case 2: ul = (uint)tail[0] << 8 | tail[1]; break;
            case 1: ul = tail[0]; break;
        }
        return csum ^ ul;
    }
}
