using System.Buffers.Binary;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// The header of the one Zstandard frame a zstd chunk's payload holds (RFC 8878, 3.1.1 "Zstandard Frames" and
/// 3.1.1.1 "Frame_Header"). A reader checks it before decoding: the frame magic, no dictionary (the image has
/// none to offer), and a Frame_Content_Size equal to the chunk's uncompressed length, so that a decoder is never
/// asked to produce more or less than the chunk holds.
/// </summary>
public readonly record struct ZstdFrameHeader(ulong ContentSize, bool HasChecksum)
{
    /// <summary>0xFD2FB528, little-endian (RFC 8878, 3.1.1 "Magic_Number").</summary>
    public const uint Magic = 0xFD2FB528;

    /// <summary>Parses the frame header at the start of <paramref name="payload"/>; null with a reason when it is not one a chunk may hold.</summary>
    public static ZstdFrameHeader? TryParse(ReadOnlySpan<byte> payload, out string? error)
    {
        error = null;
        if (payload.Length < 5 || BinaryPrimitives.ReadUInt32LittleEndian(payload) != Magic)
        {
            error = "payload is not a zstd frame (no magic 28 B5 2F FD)";
            return null;
        }
        byte descriptor = payload[4];
        int fcsFlag = descriptor >> 6;                 // Frame_Content_Size_flag
        bool singleSegment = (descriptor & 0x20) != 0; // Single_Segment_flag: no Window_Descriptor
        bool reserved = (descriptor & 0x08) != 0;      // must be 0
        bool checksum = (descriptor & 0x04) != 0;      // Content_Checksum_flag
        int dictFlag = descriptor & 0x03;              // Dictionary_ID_flag: 0, 1, 2 or 4 bytes
        if (reserved)
        {
            error = "zstd frame header has its reserved bit set";
            return null;
        }
        int dictBytes = dictFlag switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 };
        int fcsBytes = fcsFlag switch { 0 => singleSegment ? 1 : 0, 1 => 2, 2 => 4, _ => 8 };
        int at = 5 + (singleSegment ? 0 : 1);
        if (payload.Length < at + dictBytes + fcsBytes)
        {
            error = "zstd frame header is truncated";
            return null;
        }
        ulong dict = 0;
        for (int i = 0; i < dictBytes; i++) dict |= (ulong)payload[at + i] << (8 * i);
        if (dict != 0)
        {
            error = $"zstd frame needs dictionary {dict}; an image chunk never uses one";
            return null;
        }
        at += dictBytes;
        if (fcsBytes == 0)
        {
            error = "zstd frame does not declare its content size";
            return null;
        }
        ulong size = 0;
        for (int i = 0; i < fcsBytes; i++) size |= (ulong)payload[at + i] << (8 * i);
        if (fcsBytes == 2) size += 256; // RFC 8878: the 2-byte form is offset by 256
        return new ZstdFrameHeader(size, checksum);
    }
}
