using System.Buffers.Binary;

namespace P2V.Windows.Cabinet;

/// <summary>The compression of a folder (low 4 bits of CFFOLDER.typeCompress, [MS-CAB] § 2.2).</summary>
public enum CabinetCompression { None = 0, MsZip = 1, Quantum = 2, Lzx = 3 }

/// <summary>CFFOLDER ([MS-CAB] § 2.2): where the folder's first CFDATA block is, how many there are, and the compression.</summary>
internal sealed record CabinetFolder(uint FirstDataOffset, ushort DataBlockCount, ushort TypeCompress)
{
    public const int FixedLength = 8;

    public CabinetCompression Compression => (CabinetCompression)(TypeCompress & 0x000F);

    public static CabinetFolder Parse(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(b), BinaryPrimitives.ReadUInt16LittleEndian(b[4..]), BinaryPrimitives.ReadUInt16LittleEndian(b[6..]));
}
