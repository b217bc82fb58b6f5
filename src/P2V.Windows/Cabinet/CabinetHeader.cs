using System.Buffers.Binary;

namespace P2V.Windows.Cabinet;

/// <summary>
/// CFHEADER ([MS-CAB] § 2.1): "MSCF", the cabinet size, where the CFFILE entries start, the folder and file
/// counts, flags, and the optional reserve sizes that every CFFOLDER and CFDATA then carries.
/// </summary>
internal sealed record CabinetHeader(uint CabinetSize, uint FirstFileOffset, byte VersionMinor, byte VersionMajor, ushort FolderCount,
    ushort FileCount, ushort Flags, int HeaderReserve, int FolderReserve, int DataReserve, int Length)
{
    public const int FixedLength = 36;
    public const ushort FlagPrevCabinet = 0x0001, FlagNextCabinet = 0x0002, FlagReservePresent = 0x0004;

    public static CabinetHeader Parse(ReadOnlySpan<byte> b, string cab)
    {
        if (b.Length < FixedLength || !b[..4].SequenceEqual("MSCF"u8)) throw new CabinetException(cab, 0, "no 'MSCF' signature");
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(b[30..]);
        int at = FixedLength, headerReserve = 0, folderReserve = 0, dataReserve = 0;
        if ((flags & FlagReservePresent) != 0)
        {
            if (b.Length < at + 4) throw new CabinetException(cab, at, "reserve sizes run past the header");
            headerReserve = BinaryPrimitives.ReadUInt16LittleEndian(b[at..]);
            folderReserve = b[at + 2];
            dataReserve = b[at + 3];
            at += 4 + headerReserve;
        }
        // Previous/next cabinet names (NUL-terminated strings) follow when the set spans cabinets.
        int strings = ((flags & FlagPrevCabinet) != 0 ? 2 : 0) + ((flags & FlagNextCabinet) != 0 ? 2 : 0);
        for (int i = 0; i < strings; i++)
        {
            int nul = at < b.Length ? b[at..].IndexOf((byte)0) : -1;
            if (nul < 0 || nul > 255) throw new CabinetException(cab, at, "cabinet/disk name is not NUL-terminated");
            at += nul + 1;
        }
        if (BinaryPrimitives.ReadUInt16LittleEndian(b[26..]) == 0 && BinaryPrimitives.ReadUInt16LittleEndian(b[28..]) != 0)
            throw new CabinetException(cab, 26, "files but no folders");
        return new CabinetHeader(BinaryPrimitives.ReadUInt32LittleEndian(b[8..]), BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
            b[24], b[25], BinaryPrimitives.ReadUInt16LittleEndian(b[26..]), BinaryPrimitives.ReadUInt16LittleEndian(b[28..]), flags,
            headerReserve, folderReserve, dataReserve, at);
    }
}
