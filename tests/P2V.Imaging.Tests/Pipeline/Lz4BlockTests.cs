using K4os.Compression.LZ4;
using P2V.Imaging.Pipeline;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// The system's liblz4 compresses and decodes; the managed K4os codec must decode every block liblz4 makes, and liblz4
/// every block K4os makes (an image captured where liblz4 did not load is restored where it does, and the other way).
/// </summary>
public sealed class Lz4BlockTests
{
    public static TheoryData<string> Kinds => new() { "text", "executable", "random", "zeros" };

    private static byte[] Sample(string kind)
    {
        var data = new byte[1 << 20];
        switch (kind)
        {
            case "text":
                var line = "2007-03-01 12:00:00 order processed for customer 4242, status OK\r\n"u8;
                for (int i = 0; i < data.Length; i++) data[i] = line[i % line.Length];
                break;
            case "executable":
                var exe = File.ReadAllBytes("/usr/bin/qemu-img");
                exe.AsSpan(0, Math.Min(exe.Length, data.Length)).CopyTo(data);
                break;
            case "random":
                new Random(5).NextBytes(data);
                break;
        }
        return data;
    }

    [Fact]
    public void TheSystemLibraryIsUsedOnDebian() => Assert.True(Lz4Block.IsNative, "liblz4.so.1 (Debian's liblz4-1) did not load");

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ManagedCodecDecodesWhatTheCompressorMakes(string kind)
    {
        var data = Sample(kind);
        var packed = new byte[Lz4Block.MaxCompressedLength(data.Length)];
        int n = Lz4Block.Compress(data, packed);
        Assert.InRange(n, 1, packed.Length);
        var back = new byte[data.Length];
        Assert.Equal(data.Length, LZ4Codec.Decode(packed.AsSpan(0, n), back));
        Assert.Equal(data, back);
        // Same algorithm, same level: the managed encoder's output is no smaller.
        var managed = new byte[packed.Length];
        Assert.True(LZ4Codec.Encode(data, managed, LZ4Level.L00_FAST) >= n - 16);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void DecoderDecodesWhatTheManagedEncoderMakes(string kind)
    {
        var data = Sample(kind);
        var packed = new byte[LZ4Codec.MaximumOutputSize(data.Length)];
        int n = LZ4Codec.Encode(data, packed, LZ4Level.L00_FAST);
        Assert.InRange(n, 1, packed.Length);
        var back = new byte[data.Length];
        Assert.Equal(data.Length, Lz4Block.Decompress(packed.AsSpan(0, n), back));
        Assert.Equal(data, back);
    }

    [Fact]
    public void DecoderRefusesATruncatedBlockWithoutWritingPastItsTarget()
    {
        var data = Sample("text");
        var packed = new byte[Lz4Block.MaxCompressedLength(data.Length)];
        int n = Lz4Block.Compress(data, packed);
        // A target one byte short, with a guard byte behind it: the decoder must stop, not overrun.
        var back = new byte[data.Length];
        back[^1] = 0x5A;
        Assert.True(Lz4Block.Decompress(packed.AsSpan(0, n), back.AsSpan(0, data.Length - 1)) < 0);
        Assert.Equal(0x5A, back[^1]);
        // The block cut short: never the full length (the restore's check), and no write past the target either.
        Assert.NotEqual(data.Length - 1, Lz4Block.Decompress(packed.AsSpan(0, n / 2), back.AsSpan(0, data.Length - 1)));
        Assert.Equal(0x5A, back[^1]);
    }
}
