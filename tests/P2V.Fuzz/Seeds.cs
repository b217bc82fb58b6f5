using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Registry;

namespace P2V.Fuzz;

/// <summary>
/// Seed inputs that only our writers make: a small captured image (whole, and cut into header, frame, trailer
/// and footer) and an empty hive that run.sh fills with hivexregedit. The other seeds come from real tools (run.sh).
/// </summary>
internal static class Seeds
{
    public static void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        // Twelve 16 KiB chunks, every third one skipped (a gap in the runs): random (stored), text (LZ4 and zstd) and zero chunks.
        var image = Path.Combine(dir, "image");
        var random = new Random(7);
        var header = new ImageHeader { DiskLength = 256 * 1024, SectorSize = 512, ToolVersion = "seed", SourceDescription = "fuzz seed" };
        using (var output = File.Create(image))
        using (var writer = new ImageWriter(output, header))
        {
            var data = new byte[16 * 1024];
            var stored = new byte[ChunkEncoder.MaxStoredLength(data.Length)];
            var hash = new byte[ImageFormat.HashLength];
            for (int i = 0; i < 16; i++)
            {
                if (i % 3 == 2) continue;
                if (i % 4 == 0) random.NextBytes(data);
                else if (i % 4 == 1) System.Text.Encoding.ASCII.GetBytes(new string((char)('a' + i), data.Length), data);
                else data.AsSpan().Clear();
                // Text chunks alternate between the two compressing codecs, so the image seed holds both.
                var (codec, length) = ChunkEncoder.Encode(data, stored, hash, i % 8 == 5 ? ChunkCodec.Zstd : ChunkCodec.Lz4);
                if (codec == ChunkCodec.Zstd) File.WriteAllBytes(Path.Combine(dir, "zstd-chunk"), stored[..length]);
                writer.WriteChunk(codec, data.Length, stored.AsSpan(0, length), hash, [new ChunkRun(i * data.Length, data.Length)]);
            }
            writer.Finish([]);
        }
        var bytes = File.ReadAllBytes(image);
        using (var reader = ImageReader.Open(image))
        {
            File.WriteAllBytes(Path.Combine(dir, "image-header"), bytes[..(int)reader.HeaderLength]);
            var chunk = reader.Trailer.Chunks[0];
            File.WriteAllBytes(Path.Combine(dir, "image-frame"), bytes[(int)chunk.FrameOffset..(int)(chunk.FrameOffset + ChunkFrameHeader.LengthFor(chunk.Runs.Length))]);
            File.WriteAllBytes(Path.Combine(dir, "image-trailer"), bytes[(int)reader.TrailerOffset..^ImageFooter.Length]);
            File.WriteAllBytes(Path.Combine(dir, "image-footer"), bytes[^ImageFooter.Length..]);
        }
        RegistryHive.Create("CMI-CreateHive{fuzz}", 3, "fuzz").Save(Path.Combine(dir, "empty.hive"));
    }
}
