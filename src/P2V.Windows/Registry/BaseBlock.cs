using System.Buffers.Binary;
using System.Text;

namespace P2V.Windows.Registry;

/// <summary>
/// The 4096-byte base block at the start of a primary file ("Windows registry file format specification",
/// msuhanov, § Format of primary files › Base block). Transaction logs carry a partial copy of its first 512 bytes
/// (§ Format of transaction log files › Old format › Base block).
/// </summary>
internal sealed class BaseBlock
{
    public const int Size = 4096;
    public const int ChecksumOffset = 508;
    public const uint PrimaryFileType = 0;

    public uint PrimarySequence { get; set; }
    public uint SecondarySequence { get; set; }
    public long LastWritten { get; set; }
    public uint MajorVersion { get; set; } = 1;
    public uint MinorVersion { get; set; } = 5;
    public uint FileType { get; set; }
    public uint FileFormat { get; set; } = 1;
    public uint RootCellOffset { get; set; }
    public uint HiveBinsDataSize { get; set; }
    public uint ClusteringFactor { get; set; } = 1;
    public string FileName { get; set; } = "";
    public uint StoredChecksum { get; private set; }

    /// <summary>The two sequence numbers differ: a write was interrupted (§ Dirty state of a hive).</summary>
    public bool SequenceMismatch => PrimarySequence != SecondarySequence;

    /// <summary>Reads the first 512 bytes (all that a log copy holds); the caller checks the signature and checksum.</summary>
    public static BaseBlock Parse(ReadOnlySpan<byte> b, string hive)
    {
        if (b.Length < 512) throw new RegistryHiveException(hive, 0, $"base block is {b.Length} bytes, expected at least 512");
        if (!b[..4].SequenceEqual("regf"u8)) throw new RegistryHiveException(hive, 0, "base block signature is not 'regf'");
        var name = Encoding.Unicode.GetString(b.Slice(48, 64));
        int nul = name.IndexOf('\0');
        return new BaseBlock
        {
            PrimarySequence = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
            SecondarySequence = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
            LastWritten = BinaryPrimitives.ReadInt64LittleEndian(b[12..]),
            MajorVersion = BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
            MinorVersion = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]),
            FileType = BinaryPrimitives.ReadUInt32LittleEndian(b[28..]),
            FileFormat = BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
            RootCellOffset = BinaryPrimitives.ReadUInt32LittleEndian(b[36..]),
            HiveBinsDataSize = BinaryPrimitives.ReadUInt32LittleEndian(b[40..]),
            ClusteringFactor = BinaryPrimitives.ReadUInt32LittleEndian(b[44..]),
            FileName = nul >= 0 ? name[..nul] : name,
            StoredChecksum = BinaryPrimitives.ReadUInt32LittleEndian(b[ChecksumOffset..]),
        };
    }

    /// <summary>Writes the fields into <paramref name="b"/> (the rest of the block is left as it is) and sets the checksum.</summary>
    public void Write(Span<byte> b)
    {
        "regf"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], PrimarySequence);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], SecondarySequence);
        BinaryPrimitives.WriteInt64LittleEndian(b[12..], LastWritten);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], MajorVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], MinorVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(b[28..], FileType);
        BinaryPrimitives.WriteUInt32LittleEndian(b[32..], FileFormat);
        BinaryPrimitives.WriteUInt32LittleEndian(b[36..], RootCellOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[40..], HiveBinsDataSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b[44..], ClusteringFactor);
        var name = b.Slice(48, 64);
        name.Clear();
        var chars = FileName.Length > 31 ? FileName[^31..] : FileName; // the tail of a long path, NUL-terminated
        Encoding.Unicode.GetBytes(chars, name);
        StoredChecksum = Checksum(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[ChecksumOffset..], StoredChecksum);
    }

    /// <summary>XOR-32 of the first 508 bytes; Windows never stores 0 or 0xFFFFFFFF, it maps them to 1 and 0xFFFFFFFE (§ Base block, note 2).</summary>
    public static uint Checksum(ReadOnlySpan<byte> b)
    {
        uint c = 0;
        for (int i = 0; i < ChecksumOffset; i += 4) c ^= BinaryPrimitives.ReadUInt32LittleEndian(b[i..]);
        return c switch { 0xFFFFFFFF => 0xFFFFFFFE, 0 => 1, _ => c };
    }

    public static bool ChecksumValid(ReadOnlySpan<byte> b)
    {
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(b[ChecksumOffset..]);
        uint raw = 0;
        for (int i = 0; i < ChecksumOffset; i += 4) raw ^= BinaryPrimitives.ReadUInt32LittleEndian(b[i..]);
        // Older writers (and hivex) store the plain XOR; accept it as well as the mapped form.
        return stored == raw || stored == Checksum(b);
    }
}
