using System.Buffers.Binary;

namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>
/// One of the two 4 KiB headers at 64 KiB and 128 KiB (MS-VHDX 2.2.2): the current one is the valid one
/// with the higher sequence number. Little-endian; CRC-32C over the 4 KiB with the checksum field zero.
/// </summary>
public sealed record VhdxHeader
{
    public const int Size = 4096;
    public const long FirstOffset = 64 * 1024, SecondOffset = 128 * 1024;
    private static ReadOnlySpan<byte> Signature => "head"u8;

    public uint Checksum { get; init; }
    public ulong SequenceNumber { get; init; }
    /// <summary>Changes each time the file is opened for writing.</summary>
    public Guid FileWriteGuid { get; init; }
    /// <summary>Changes each time the disk's data is first written after opening.</summary>
    public Guid DataWriteGuid { get; init; }
    /// <summary>Non-zero when the log holds entries that must be replayed before the file is used.</summary>
    public Guid LogGuid { get; init; }
    public ushort LogVersion { get; init; }
    public ushort Version { get; init; } = 1;
    public uint LogLength { get; init; }
    public ulong LogOffset { get; init; }

    public static VhdxHeader Parse(ReadOnlySpan<byte> b, string path, long fileOffset)
    {
        if (b.Length < Size)
            throw new VirtualDiskException(path, fileOffset, $"VHDX header needs {Size} bytes, found {b.Length}");
        if (!b[..4].SequenceEqual(Signature))
            throw new VirtualDiskException(path, fileOffset, $"VHDX header signature is '{Vhd.VhdFooter.Printable(b[..4])}', expected 'head'");
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        uint computed = Crc32C.Compute(b[..Size], 4);
        if (stored != computed)
            throw new VirtualDiskException(path, fileOffset + 4, $"VHDX header checksum is 0x{stored:X8}, expected 0x{computed:X8}");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(b[66..]);
        if (version != 1)
            throw new VirtualDiskException(path, fileOffset + 66, $"VHDX header version {version}, expected 1");
        ushort logVersion = BinaryPrimitives.ReadUInt16LittleEndian(b[64..]);
        if (logVersion != 0)
            throw new VirtualDiskException(path, fileOffset + 64, $"VHDX log version {logVersion}, expected 0");
        uint logLength = BinaryPrimitives.ReadUInt32LittleEndian(b[68..]);
        ulong logOffset = BinaryPrimitives.ReadUInt64LittleEndian(b[72..]);
        if (logLength % VhdxRegionTable.Alignment != 0 || logOffset % VhdxRegionTable.Alignment != 0 || (logLength != 0 && logOffset < VhdxRegionTable.Alignment))
            throw new VirtualDiskException(path, fileOffset + 68, $"VHDX log [{logOffset}, +{logLength}) is not 1 MiB aligned past the header section");
        return new VhdxHeader
        {
            Checksum = stored,
            SequenceNumber = BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
            FileWriteGuid = new Guid(b[16..32]),
            DataWriteGuid = new Guid(b[32..48]),
            LogGuid = new Guid(b[48..64]),
            LogVersion = logVersion,
            Version = version,
            LogLength = logLength,
            LogOffset = logOffset,
        };
    }

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Signature.CopyTo(b);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], SequenceNumber);
        FileWriteGuid.TryWriteBytes(b[16..32]);
        DataWriteGuid.TryWriteBytes(b[32..48]);
        LogGuid.TryWriteBytes(b[48..64]);
        BinaryPrimitives.WriteUInt16LittleEndian(b[64..], LogVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(b[66..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(b[68..], LogLength);
        BinaryPrimitives.WriteUInt64LittleEndian(b[72..], LogOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Crc32C.Compute(b[..Size], 4));
    }
}
