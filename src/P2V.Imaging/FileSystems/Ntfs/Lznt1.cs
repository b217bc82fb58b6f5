using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// LZNT1, the compression of NTFS compressed attributes. Layout: [MS-XCA] section 2.5. A buffer is a series
/// of chunks, each decompressing to at most 4096 bytes; a chunk starts with a 16-bit header (bit 15: compressed;
/// bits 0..11: total chunk size minus 3). A compressed chunk is groups of a flag byte and 8 tokens: a literal
/// byte (flag bit 0) or a 16-bit back-reference (flag bit 1) whose split between displacement and length
/// depends on how much of the chunk has been produced. A zero header ends the buffer.
/// </summary>
public static class Lznt1
{
    public const int ChunkSize = 4096;

    /// <summary>Decompresses <paramref name="source"/> into <paramref name="destination"/>; returns the bytes produced.</summary>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> destination, long volumeOffset, string what)
    {
        int src = 0, dst = 0;
        while (src + 2 <= source.Length && dst < destination.Length)
        {
            int header = BinaryPrimitives.ReadUInt16LittleEndian(source[src..]);
            if (header == 0) break;
            int chunkEnd = src + (header & 0x0FFF) + 3;
            if (chunkEnd > source.Length)
                throw new NtfsException(volumeOffset + src, $"{what}: LZNT1 chunk of {chunkEnd - src} bytes runs past the {source.Length}-byte compression unit");
            src += 2;
            var output = destination[dst..Math.Min(destination.Length, dst + ChunkSize)];
            int produced = (header & 0x8000) == 0
                ? CopyStored(source[src..chunkEnd], output)
                : DecompressChunk(source[src..chunkEnd], output, volumeOffset + src, what);
            dst += produced;
            src = chunkEnd;
        }
        return dst;
    }

    private static int CopyStored(ReadOnlySpan<byte> body, Span<byte> output)
    {
        int n = Math.Min(body.Length, output.Length);
        body[..n].CopyTo(output);
        return n;
    }

    private static int DecompressChunk(ReadOnlySpan<byte> body, Span<byte> output, long volumeOffset, string what)
    {
        int src = 0, dst = 0;
        while (src < body.Length && dst < output.Length)
        {
            int flags = body[src++];
            for (int bit = 0; bit < 8 && src < body.Length && dst < output.Length; bit++, flags >>= 1)
            {
                if ((flags & 1) == 0)
                {
                    output[dst++] = body[src++];
                    continue;
                }
                if (src + 2 > body.Length)
                    throw new NtfsException(volumeOffset + src, $"{what}: LZNT1 back-reference cut off at the end of its chunk");
                int token = BinaryPrimitives.ReadUInt16LittleEndian(body[src..]);
                src += 2;
                // The more of the chunk has been produced, the more bits go to the displacement.
                int displacementBits = 4;
                for (int p = dst - 1; p >= 0x10; p >>= 1) displacementBits++;
                int lengthBits = 16 - displacementBits;
                int displacement = (token >> lengthBits) + 1;
                int length = (token & ((1 << lengthBits) - 1)) + 3;
                if (displacement > dst)
                    throw new NtfsException(volumeOffset + src - 2, $"{what}: LZNT1 back-reference {displacement} bytes back, only {dst} produced");
                length = Math.Min(length, output.Length - dst);
                for (int i = 0; i < length; i++, dst++) output[dst] = output[dst - displacement]; // overlapping copies repeat
            }
        }
        return dst;
    }
}
