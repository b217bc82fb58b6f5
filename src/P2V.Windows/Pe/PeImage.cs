using System.Buffers.Binary;

namespace P2V.Windows.Pe;

/// <summary>The processor a PE image is built for (IMAGE_FILE_HEADER.Machine).</summary>
public enum PeMachine : ushort { Unknown = 0, I386 = 0x014C, Ia64 = 0x0200, Amd64 = 0x8664, Arm = 0x01C4, Arm64 = 0xAA64 }

/// <summary>One section header (PE/COFF specification § Section Table): where an RVA range sits in the file.</summary>
internal readonly record struct PeSection(string Name, uint VirtualAddress, uint VirtualSize, uint RawOffset, uint RawSize)
{
    public const int Length = 40;

    public static PeSection Parse(ReadOnlySpan<byte> b) => new(
        System.Text.Encoding.ASCII.GetString(b[..8]).TrimEnd('\0'),
        BinaryPrimitives.ReadUInt32LittleEndian(b[12..]), BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[20..]), BinaryPrimitives.ReadUInt32LittleEndian(b[16..]));
}

/// <summary>
/// The headers of a PE32 or PE32+ image (Microsoft PE/COFF specification § MS-DOS Stub, § COFF File Header,
/// § Optional Header, § Section Table), enough to find its resources.
/// </summary>
public sealed class PeImage
{
    private const int ResourceDirectoryIndex = 2;
    private readonly byte[] _file;
    private readonly List<PeSection> _sections = [];

    public string FileName { get; }
    public PeMachine Machine { get; }
    /// <summary>PE32+ (64-bit optional header, magic 0x20B) rather than PE32 (0x10B).</summary>
    public bool IsPe32Plus { get; }
    public ushort Characteristics { get; }
    public bool IsDll => (Characteristics & 0x2000) != 0;
    internal uint ResourceRva { get; }
    internal uint ResourceSize { get; }

    private PeImage(byte[] file, string name)
    {
        _file = file;
        FileName = name;
        var b = file.AsSpan();
        if (b.Length < 64 || b[0] != 'M' || b[1] != 'Z') throw new PeFormatException(name, 0, "no 'MZ' DOS header");
        uint pe = BinaryPrimitives.ReadUInt32LittleEndian(b[0x3C..]);
        if (pe > b.Length - 24 || !b.Slice((int)pe, 4).SequenceEqual("PE\0\0"u8)) throw new PeFormatException(name, 0x3C, "e_lfanew does not point at a 'PE\\0\\0' signature");
        var coff = b[((int)pe + 4)..];
        Machine = (PeMachine)BinaryPrimitives.ReadUInt16LittleEndian(coff);
        int sections = BinaryPrimitives.ReadUInt16LittleEndian(coff[2..]);
        int optionalSize = BinaryPrimitives.ReadUInt16LittleEndian(coff[16..]);
        Characteristics = BinaryPrimitives.ReadUInt16LittleEndian(coff[18..]);
        int optional = (int)pe + 24;
        if (optional + (long)optionalSize > b.Length || optionalSize < 2) throw new PeFormatException(name, optional, "optional header runs past the end of the file");
        var opt = b.Slice(optional, optionalSize);
        ushort magic = BinaryPrimitives.ReadUInt16LittleEndian(opt);
        IsPe32Plus = magic switch
        {
            0x10B => false, 0x20B => true,
            _ => throw new PeFormatException(name, optional, $"optional header magic 0x{magic:X}, expected 0x10B (PE32) or 0x20B (PE32+)"),
        };
        int countAt = IsPe32Plus ? 108 : 92, dirsAt = countAt + 4;
        if (opt.Length >= dirsAt)
        {
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(opt[countAt..]);
            if (count > ResourceDirectoryIndex && opt.Length >= dirsAt + 8 * (ResourceDirectoryIndex + 1))
            {
                ResourceRva = BinaryPrimitives.ReadUInt32LittleEndian(opt[(dirsAt + 8 * ResourceDirectoryIndex)..]);
                ResourceSize = BinaryPrimitives.ReadUInt32LittleEndian(opt[(dirsAt + 8 * ResourceDirectoryIndex + 4)..]);
            }
        }
        int table = optional + optionalSize;
        if (table + (long)sections * PeSection.Length > b.Length) throw new PeFormatException(name, table, $"{sections} section headers run past the end of the file");
        for (int i = 0; i < sections; i++) _sections.Add(PeSection.Parse(b[(table + i * PeSection.Length)..]));
    }

    public static PeImage Parse(byte[] file, string name = "image") => new(file, name);

    public static PeImage Open(string path) => new(File.ReadAllBytes(path), Path.GetFileName(path));

    /// <summary>The file bytes for <paramref name="length"/> bytes at an RVA, which must lie inside one section's raw data.</summary>
    internal ReadOnlySpan<byte> AtRva(uint rva, uint length, string what)
    {
        foreach (var s in _sections)
        {
            uint size = Math.Max(s.VirtualSize, s.RawSize);
            if (rva < s.VirtualAddress || rva - s.VirtualAddress >= size) continue;
            long offset = s.RawOffset + (long)(rva - s.VirtualAddress);
            long end = Math.Min(s.RawOffset + (long)s.RawSize, _file.Length);
            if (offset + length > end) throw new PeFormatException(FileName, offset, $"{what} of {length} bytes at RVA 0x{rva:X} runs past its section's data");
            return _file.AsSpan((int)offset, (int)length);
        }
        throw new PeFormatException(FileName, 0, $"{what} at RVA 0x{rva:X} lies in no section");
    }

    /// <summary>The file's VS_VERSIONINFO resource, or null when it has none.</summary>
    public VersionInfo? ReadVersionInfo()
    {
        var data = ResourceDirectory.Find(this, ResourceDirectory.RtVersion);
        return data is null ? null : VersionInfo.Parse(data, FileName);
    }
}
