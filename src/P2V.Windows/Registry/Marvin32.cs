using System.Buffers.Binary;
using System.Numerics;

namespace P2V.Windows.Registry;

/// <summary>
/// Marvin32, the keyed hash that guards new-format log entries (spec § New format › Log entries, notes 1–3:
/// seed 0x82EF4D887A4E55C5). Returned as the 64-bit state (low half first), which is how the log stores it.
/// </summary>
public static class Marvin32
{
    public const ulong RegistryLogSeed = 0x82EF4D887A4E55C5;

    public static ulong Compute(ReadOnlySpan<byte> data, ulong seed = RegistryLogSeed)
    {
        uint p0 = (uint)seed, p1 = (uint)(seed >> 32);
        while (data.Length >= 4)
        {
            p0 += BinaryPrimitives.ReadUInt32LittleEndian(data);
            Block(ref p0, ref p1);
            data = data[4..];
        }
        // The tail: 0–3 bytes then a single 0x80 byte as padding, one block, then one more block of zeroes.
        uint final = data.Length switch
        {
            0 => 0x80u,
            1 => 0x8000u | data[0],
            2 => 0x800000u | BinaryPrimitives.ReadUInt16LittleEndian(data),
            _ => 0x80000000u | ((uint)data[2] << 16) | BinaryPrimitives.ReadUInt16LittleEndian(data),
        };
        p0 += final;
        Block(ref p0, ref p1);
        Block(ref p0, ref p1);
        return ((ulong)p1 << 32) | p0;
    }

    /// <summary>The 32-bit form (both halves XORed), the one .NET uses for string hashing.</summary>
    public static int Compute32(ReadOnlySpan<byte> data, ulong seed)
    {
        ulong h = Compute(data, seed);
        return (int)((uint)h ^ (uint)(h >> 32));
    }

    private static void Block(ref uint p0, ref uint p1)
    {
        p1 ^= p0; p0 = BitOperations.RotateLeft(p0, 20);
        p0 += p1; p1 = BitOperations.RotateLeft(p1, 9);
        p1 ^= p0; p0 = BitOperations.RotateLeft(p0, 27);
        p0 += p1; p1 = BitOperations.RotateLeft(p1, 19);
    }
}
