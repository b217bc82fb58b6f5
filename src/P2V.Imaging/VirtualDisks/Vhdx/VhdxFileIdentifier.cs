using System.Text;

namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>
/// The file type identifier at offset 0 (MS-VHDX 2.2.1): the signature "vhdxfile" and the creator's name
/// in UTF-16, 512 bytes of creator at offset 8; the rest of the first 64 KiB is reserved.
/// </summary>
public sealed record VhdxFileIdentifier(string Creator)
{
    public const int Size = 64 * 1024;
    /// <summary>The signature (8 bytes) and the creator (512 bytes); the rest is reserved.</summary>
    public const int UsedLength = 8 + CreatorLength;
    private const int CreatorLength = 512;
    private static ReadOnlySpan<byte> Signature => "vhdxfile"u8;

    public static bool HasSignature(ReadOnlySpan<byte> b) => b.Length >= 8 && b[..8].SequenceEqual(Signature);

    public static VhdxFileIdentifier Parse(ReadOnlySpan<byte> b, string path)
    {
        if (b.Length < UsedLength)
            throw new VirtualDiskException(path, 0, $"VHDX file identifier needs {UsedLength} bytes, found {b.Length}");
        if (!HasSignature(b))
            throw new VirtualDiskException(path, 0, $"VHDX file identifier signature is '{Vhd.VhdFooter.Printable(b[..8])}', expected 'vhdxfile'");
        return new VhdxFileIdentifier(Encoding.Unicode.GetString(b[8..UsedLength]).TrimEnd('\0'));
    }

    public void Write(Span<byte> b)
    {
        b[..UsedLength].Clear();
        Signature.CopyTo(b);
        var creator = Creator.Length > 256 ? Creator[..256] : Creator;
        Encoding.Unicode.GetBytes(creator, b[8..UsedLength]);
    }
}
