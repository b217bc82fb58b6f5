using System.Buffers.Binary;

namespace P2V.Windows.Registry;

/// <summary>The 32-byte header of a hive bin (spec § Format of primary files › Hive bin): "hbin", its own offset, its size (a multiple of 4096).</summary>
internal readonly record struct HiveBinHeader(uint Offset, uint Size, long Timestamp)
{
    public const int Length = 32;
    public const int Alignment = 4096;

    public static HiveBinHeader Parse(ReadOnlySpan<byte> b, string hive, long at)
    {
        if (!b[..4].SequenceEqual("hbin"u8)) throw new RegistryHiveException(hive, at, "hive bin signature is not 'hbin'");
        return new HiveBinHeader(BinaryPrimitives.ReadUInt32LittleEndian(b[4..]), BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(b[20..]));
    }

    public void Write(Span<byte> b)
    {
        b[..Length].Clear();
        "hbin"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Offset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], Size);
        BinaryPrimitives.WriteInt64LittleEndian(b[20..], Timestamp);
    }
}
