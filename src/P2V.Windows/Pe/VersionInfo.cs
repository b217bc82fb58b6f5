using System.Buffers.Binary;
using System.Text;

namespace P2V.Windows.Pe;

/// <summary>
/// A VS_VERSIONINFO resource (Win32 "Version Information" reference: VS_VERSIONINFO, VS_FIXEDFILEINFO,
/// StringFileInfo, StringTable, String): the binary file and product versions, and the first string table's
/// strings (OriginalFilename, ProductName, CompanyName, FileVersion …).
/// </summary>
public sealed record VersionInfo(Version FileVersion, Version ProductVersion, IReadOnlyDictionary<string, string> Strings)
{
    private const uint FixedSignature = 0xFEEF04BD;

    public string? OriginalFilename => Strings.GetValueOrDefault("OriginalFilename");
    public string? ProductName => Strings.GetValueOrDefault("ProductName");
    public string? CompanyName => Strings.GetValueOrDefault("CompanyName");
    public string? FileVersionText => Strings.GetValueOrDefault("FileVersion");
    /// <summary>The build number: the third part of the binary file version (5.2.3790.4354 → 3790).</summary>
    public int Build => FileVersion.Build;

    public static VersionInfo Parse(ReadOnlySpan<byte> data, string file)
    {
        var root = Block.Parse(data, 0, file);
        if (root.Key != "VS_VERSION_INFO") throw new PeFormatException(file, 0, $"version resource key is '{root.Key}', expected 'VS_VERSION_INFO'");
        var fixedInfo = root.Value;
        if (fixedInfo.Length < 52 || BinaryPrimitives.ReadUInt32LittleEndian(fixedInfo) != FixedSignature)
            throw new PeFormatException(file, 0, "VS_FIXEDFILEINFO is missing or lacks its 0xFEEF04BD signature");
        static Version V(ReadOnlySpan<byte> b) => new(
            BinaryPrimitives.ReadUInt16LittleEndian(b[2..]), BinaryPrimitives.ReadUInt16LittleEndian(b),
            BinaryPrimitives.ReadUInt16LittleEndian(b[6..]), BinaryPrimitives.ReadUInt16LittleEndian(b[4..]));
        var strings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var child in root.Children(data, file))
        {
            if (child.Key != "StringFileInfo") continue;
            foreach (var table in child.Children(data, file))
            {
                foreach (var s in table.Children(data, file))
                    strings.TryAdd(s.Key, s.Text());
                break; // the first language's table
            }
        }
        return new VersionInfo(V(fixedInfo[8..]), V(fixedInfo[16..]), strings);
    }

    /// <summary>
    /// One node of the version tree: wLength, wValueLength, wType (1 = text, value length in characters), a
    /// NUL-terminated UTF-16 key, padding to 32 bits, the value, padding, then child nodes up to wLength.
    /// </summary>
    private readonly record struct Block(string Key, int Start, int End, int ChildrenAt, byte[] ValueBytes, bool IsText)
    {
        public ReadOnlySpan<byte> Value => ValueBytes;

        public string Text()
        {
            var s = Encoding.Unicode.GetString(ValueBytes, 0, ValueBytes.Length & ~1);
            int nul = s.IndexOf('\0');
            return nul >= 0 ? s[..nul] : s;
        }

        public static Block Parse(ReadOnlySpan<byte> data, int start, string file)
        {
            if (start + 6 > data.Length) throw new PeFormatException(file, start, "version block header runs past the resource");
            int length = BinaryPrimitives.ReadUInt16LittleEndian(data[start..]);
            int valueLength = BinaryPrimitives.ReadUInt16LittleEndian(data[(start + 2)..]);
            bool text = BinaryPrimitives.ReadUInt16LittleEndian(data[(start + 4)..]) == 1;
            int end = start + length;
            if (length < 6 || end > data.Length) throw new PeFormatException(file, start, $"version block of {length} bytes runs past the resource");
            int at = start + 6;
            var key = new StringBuilder();
            while (true)
            {
                if (at + 2 > end) throw new PeFormatException(file, at, "version block key is not NUL-terminated");
                char c = (char)BinaryPrimitives.ReadUInt16LittleEndian(data[at..]);
                at += 2;
                if (c == '\0') break;
                key.Append(c);
            }
            at = Align4(at);
            int valueBytes = text ? valueLength * 2 : valueLength;
            valueBytes = Math.Max(0, Math.Min(valueBytes, end - at)); // some linkers count text values loosely
            var value = at <= end ? data.Slice(at, valueBytes).ToArray() : [];
            return new Block(key.ToString(), start, end, Align4(at + valueBytes), value, text);
        }

        public IEnumerable<Block> Children(ReadOnlySpan<byte> data, string file)
        {
            var list = new List<Block>();
            for (int at = ChildrenAt; at + 6 <= End;)
            {
                var child = Parse(data[..End], at, file);
                list.Add(child);
                at = Align4(child.End);
                if (child.End <= child.Start) break;
            }
            return list;
        }

        private static int Align4(int n) => (n + 3) & ~3;
    }
}
