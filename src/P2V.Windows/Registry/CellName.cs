using System.Text;

namespace P2V.Windows.Registry;

/// <summary>
/// Key and value names are stored either "compressed" (one byte per character, Latin-1 — the spec's "ASCII") or
/// as UTF-16LE, chosen by a flag (§ Key node › Flags KEY_COMP_NAME, § Key value › Flags).
/// </summary>
internal static class CellName
{
    public static string Decode(ReadOnlySpan<byte> b, bool compressed) => compressed ? Encoding.Latin1.GetString(b) : Encoding.Unicode.GetString(b);

    /// <summary>
    /// Windows compresses any name below U+0100, but hivex decodes compressed names as ASCII (é becomes U+FFFD),
    /// so only ASCII names are written compressed; the rest as UTF-16, which every reader takes.
    /// </summary>
    public static bool CanCompress(string name)
    {
        foreach (char c in name) if (c > 0x7F) return false;
        return true;
    }

    public static byte[] Encode(string name, out bool compressed)
    {
        compressed = CanCompress(name);
        return compressed ? Encoding.Latin1.GetBytes(name) : Encoding.Unicode.GetBytes(name);
    }

    /// <summary>Windows orders subkeys by their upper-cased names compared code unit by code unit (§ Hash leaf; lists are sorted).</summary>
    public static int Compare(string a, string b) => string.Compare(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>The hash leaf hash: H = 37·H + C over the upper-cased name's UTF-16 code units (§ Hash leaf › Note).</summary>
    public static uint Hash(string name)
    {
        uint h = 0;
        foreach (char c in name) h = unchecked(37 * h + char.ToUpperInvariant(c));
        return h;
    }

    /// <summary>The fast leaf hint: the first four characters of the name, as bytes, zero-padded (§ Fast leaf).</summary>
    public static uint Hint(string name)
    {
        uint hint = 0;
        for (int i = 0; i < 4 && i < name.Length; i++) hint |= (uint)(byte)name[i] << (8 * i);
        return hint;
    }
}
