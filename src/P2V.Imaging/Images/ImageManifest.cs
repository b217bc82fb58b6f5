namespace P2V.Imaging.Images;

/// <summary>
/// An image without its chunk frames: header, trailer, footer (docs/image-format.md, "Manifest"). The
/// image store keeps one per image and the chunks themselves by hash; the trailer's frame offsets are where
/// the frames would be in the equivalent image file.
/// </summary>
public sealed class ImageManifest
{
    public required ImageHeader Header { get; init; }
    public required ImageTrailer Trailer { get; init; }

    /// <summary>Writes a manifest: the header's bytes, the trailer, and a footer that points at the trailer right after the header.</summary>
    public static void Write(Stream output, byte[] headerBytes, ImageTrailerWriter trailer, IReadOnlyList<VolumeStats> volumes)
    {
        output.Write(headerBytes);
        var (length, crc) = trailer.WriteTo(output.Write, volumes);
        Span<byte> footer = stackalloc byte[ImageFooter.Length];
        new ImageFooter(headerBytes.Length, length, crc).Write(footer);
        output.Write(footer);
    }

    /// <summary>Parses and checks a whole manifest (header CRC, footer, trailer CRC and entries).</summary>
    public static ImageManifest Parse(ReadOnlySpan<byte> data)
    {
        using var headerStream = new MemoryStream(data.ToArray(), writable: false);
        var header = ImageHeader.Read(headerStream);
        long headerLength = headerStream.Position;
        if (data.Length < headerLength + ImageFooter.Length)
            throw new ImageFormatException(data.Length, "manifest is incomplete: it ends before its footer");
        long footerAt = data.Length - ImageFooter.Length;
        var footer = ImageFooter.Parse(data[(int)footerAt..], footerAt, data.Length);
        if (footer.TrailerOffset != headerLength)
            throw new ImageFormatException(footerAt, $"manifest footer points to a trailer at {footer.TrailerOffset}, not right after the {headerLength}-byte header");
        var trailerBytes = data.Slice((int)footer.TrailerOffset, (int)footer.TrailerLength);
        if (Crc32C.Compute(trailerBytes) != footer.TrailerCrc)
            throw new ImageFormatException(footer.TrailerOffset, "trailer CRC-32C mismatch: the manifest's chunk index is corrupt");
        return new ImageManifest { Header = header, Trailer = ImageTrailer.Parse(trailerBytes, footer.TrailerOffset, header.DiskLength) };
    }
}
