using System.Buffers.Binary;
using P2V.Imaging.Images;

namespace P2V.Store;

/// <summary>A chunk's identity: the BLAKE3 of its uncompressed bytes, as the image format records it.</summary>
public readonly record struct ChunkHash(UInt128 High, UInt128 Low)
{
    public const int Length = ImageFormat.HashLength;

    public static ChunkHash From(ReadOnlySpan<byte> hash) =>
        hash.Length == Length
            ? new(BinaryPrimitives.ReadUInt128BigEndian(hash), BinaryPrimitives.ReadUInt128BigEndian(hash[16..]))
            : throw new ArgumentException($"a chunk hash is {Length} bytes, not {hash.Length}");

    public void WriteTo(Span<byte> dest)
    {
        BinaryPrimitives.WriteUInt128BigEndian(dest, High);
        BinaryPrimitives.WriteUInt128BigEndian(dest[16..], Low);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        WriteTo(bytes);
        return bytes;
    }

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public static bool TryParse(string hex, out ChunkHash hash)
    {
        hash = default;
        if (hex.Length != 2 * Length) return false;
        Span<byte> bytes = stackalloc byte[Length];
        if (Convert.FromHexString(hex, bytes, out _, out int written) != System.Buffers.OperationStatus.Done || written != Length) return false;
        hash = From(bytes);
        return true;
    }
}
