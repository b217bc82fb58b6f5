using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace P2V.Imaging;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), used by the P2V image format and by VHDX
/// (MS-VHDX 2.2.2). System.IO.Hashing has no CRC-32C; SSE4.2 computes it in hardware.
/// </summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues the CRC of earlier bytes, <paramref name="crc"/>, over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        int i = 0;
        if (Sse42.X64.IsSupported)
        {
            ulong c = crc;
            for (; i + 8 <= data.Length; i += 8)
                c = Sse42.X64.Crc32(c, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
            crc = (uint)c;
        }
        if (Sse42.IsSupported)
        {
            for (; i < data.Length; i++) crc = Sse42.Crc32(crc, data[i]);
            return ~crc;
        }
        for (; i < data.Length; i++)
        {
            crc ^= data[i];
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }
}
