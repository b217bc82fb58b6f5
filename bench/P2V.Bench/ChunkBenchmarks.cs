using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using K4os.Compression.LZ4;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;

namespace P2V.Bench;

/// <summary>
/// The per-chunk work of capture and restore on a 1 MiB chunk: LZ4 compress and decompress, the BLAKE3
/// content hash (and SHA-256, the alternative it was chosen over), and the all-zero test.
/// </summary>
[MemoryDiagnoser]
public class ChunkBenchmarks
{
    private readonly byte[] _chunk = new byte[ImageFormat.DefaultChunkSize];
    private readonly byte[] _stored = new byte[ChunkEncoder.MaxStoredLength(ImageFormat.DefaultChunkSize)];
    private readonly byte[] _output = new byte[ImageFormat.DefaultChunkSize];
    private readonly byte[] _hash = new byte[32];
    private int _storedLength;

    /// <summary>text: log-like lines; binary: the dotnet host's own machine code; random: incompressible.</summary>
    [Params("text", "binary", "random")]
    public string Data { get; set; } = "text";

    [GlobalSetup]
    public void Setup()
    {
        switch (Data)
        {
            case "text":
                var line = "2026-11-26 06:13:05 service started, pid 4242, status 0x00000000 OK\r\n"u8;
                for (int i = 0; i < _chunk.Length; i++) _chunk[i] = line[i % line.Length];
                break;
            case "binary":
                var exe = File.ReadAllBytes(Environment.ProcessPath!);
                for (int i = 0; i < _chunk.Length; i += exe.Length) exe.AsSpan(0, Math.Min(exe.Length, _chunk.Length - i)).CopyTo(_chunk.AsSpan(i));
                break;
            default:
                new Random(1).NextBytes(_chunk);
                break;
        }
        _storedLength = LZ4Codec.Encode(_chunk, _stored, LZ4Level.L00_FAST);
    }

    [Benchmark]
    public int Lz4Compress() => LZ4Codec.Encode(_chunk, _stored, LZ4Level.L00_FAST);

    [Benchmark]
    public int Lz4Decompress() => LZ4Codec.Decode(_stored.AsSpan(0, _storedLength), _output);

    [Benchmark]
    public void Blake3Hash() => ChunkEncoder.Hash(_chunk, _hash);

    [Benchmark]
    public void Sha256Hash() => SHA256.HashData(_chunk, _hash);

    [Benchmark]
    public bool ZeroCheck() => _chunk.AsSpan().ContainsAnyExcept((byte)0);

    [Benchmark]
    public int EncodeChunk() => ChunkEncoder.Encode(_chunk, _stored, _hash).StoredLength;
}
