using System.Buffers.Binary;
using System.Numerics;

namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>CRC-32C (Castagnoli), the checksum of VHDX headers, region tables and log entries (MS-VHDX 2.2.2).</summary>
internal static class Crc32C
{
    /// <summary>The checksum of <paramref name="data"/> with the 4-byte field at <paramref name="checksumOffset"/> taken as zero.</summary>
    public static uint Compute(ReadOnlySpan<byte> data, int checksumOffset)
    {
        uint crc = Accumulate(uint.MaxValue, data[..checksumOffset]);
        crc = BitOperations.Crc32C(crc, 0u);
        crc = Accumulate(crc, data[(checksumOffset + 4)..]);
        return ~crc;
    }

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
