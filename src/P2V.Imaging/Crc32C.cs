using System.Buffers.Binary;
using System.Numerics;

namespace P2V.Imaging;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of the P2V image format and of VHDX
/// headers, region tables and log entries (MS-VHDX 2.2.2). System.IO.Hashing has no CRC-32C;
/// BitOperations.Crc32C is the processor's instruction where there is one.
/// </summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>The checksum of <paramref name="data"/> with the 4-byte field at <paramref name="checksumOffset"/> taken as zero (VHDX's rule).</summary>
    public static uint Compute(ReadOnlySpan<byte> data, int checksumOffset)
    {
        uint crc = Accumulate(uint.MaxValue, data[..checksumOffset]);
        crc = BitOperations.Crc32C(crc, 0u);
        return ~Accumulate(crc, data[(checksumOffset + 4)..]);
    }

    /// <summary>Continues the CRC of earlier bytes, <paramref name="crc"/>, over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Accumulate(~crc, data);

    private static uint Accumulate(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }
}
