using System.Buffers.Binary;
using System.Text;

namespace P2V.Windows.Registry;

/// <summary>Value data types (spec § Key value › Data types); any other number is kept as it is.</summary>
public enum RegistryValueKind : uint
{
    None = 0, String = 1, ExpandString = 2, Binary = 3, DWord = 4, DWordBigEndian = 5, Link = 6, MultiString = 7,
    ResourceList = 8, FullResourceDescriptor = 9, ResourceRequirementsList = 10, QWord = 11,
}

/// <summary>A value's name ("" for the default value), type and raw data, with the usual decodings.</summary>
public sealed record RegistryValue(string Name, RegistryValueKind Kind, byte[] Data)
{
    /// <summary>REG_SZ/REG_EXPAND_SZ/REG_LINK as text, up to the first NUL (UTF-16LE, as Windows stores them).</summary>
    public string AsString()
    {
        var s = Encoding.Unicode.GetString(Data, 0, Data.Length & ~1);
        int nul = s.IndexOf('\0');
        return nul >= 0 ? s[..nul] : s;
    }

    /// <summary>REG_MULTI_SZ: the NUL-separated strings, ending at the empty string.</summary>
    public string[] AsMultiString()
    {
        var s = Encoding.Unicode.GetString(Data, 0, Data.Length & ~1);
        var result = new List<string>();
        foreach (var part in s.Split('\0'))
        {
            if (part.Length == 0) break;
            result.Add(part);
        }
        return [.. result];
    }

    public uint AsDWord() => Data.Length >= 4
        ? (Kind == RegistryValueKind.DWordBigEndian ? BinaryPrimitives.ReadUInt32BigEndian(Data) : BinaryPrimitives.ReadUInt32LittleEndian(Data))
        : throw new InvalidDataException($"value '{Name}' holds {Data.Length} bytes, not a DWORD");

    public ulong AsQWord() => Data.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(Data)
        : throw new InvalidDataException($"value '{Name}' holds {Data.Length} bytes, not a QWORD");

    public static byte[] EncodeString(string s) => Encoding.Unicode.GetBytes(s + "\0");

    public static byte[] EncodeMultiString(IEnumerable<string> items) => Encoding.Unicode.GetBytes(string.Concat(items.Select(i => i + "\0")) + "\0");

    public override string ToString() => Kind switch
    {
        RegistryValueKind.String or RegistryValueKind.ExpandString => $"{Name} = {Kind} \"{AsString()}\"",
        RegistryValueKind.MultiString => $"{Name} = MultiString [{string.Join(", ", AsMultiString())}]",
        RegistryValueKind.DWord when Data.Length == 4 => $"{Name} = DWord 0x{AsDWord():x8}",
        RegistryValueKind.QWord when Data.Length == 8 => $"{Name} = QWord 0x{AsQWord():x16}",
        _ => $"{Name} = {Kind} {Convert.ToHexString(Data)}",
    };
}
