namespace P2V.Agent.Tests;

public sealed class CaptureShapeTests
{
    private const long MiB = 1L << 20;

    [Fact]
    public void Unknown_memory_gets_the_full_pipeline()
    {
        var s = CaptureShape.For(0, 4);
        Assert.Equal((4, 0, 8, 16 * MiB, 9), (s.Workers, s.Window, s.ReadAheadPieces, s.BatchBytes, s.MaxZstdLevel));
    }

    [Fact]
    public void A_small_boot_image_gets_one_worker_a_short_window_and_small_batches()
    {
        // About what Debian's kernel and the initramfs leave free at -m 104 (docs/boot-images.md, Footprint).
        var s = CaptureShape.For(16 * MiB, 2);
        Assert.Equal((1, 4, 2, 512L << 10, 1), (s.Workers, s.Window, s.ReadAheadPieces, s.BatchBytes, s.MaxZstdLevel));
        Assert.True(Buffers(s) <= 16 * MiB / 2, $"{Buffers(s) >> 10} KiB of buffers with 16 MiB free");
    }

    [Fact]
    public void Plenty_of_memory_gets_a_worker_per_core_and_the_full_buffers()
    {
        var s = CaptureShape.For(20_000 * MiB, 2);
        Assert.Equal((2, 18, 8, 16 * MiB, 9), (s.Workers, s.Window, s.ReadAheadPieces, s.BatchBytes, s.MaxZstdLevel));
    }

    [Fact]
    public void A_many_core_server_with_little_free_is_not_given_a_window_per_core()
    {
        var s = CaptureShape.For(256 * MiB, 32);
        Assert.Equal(7, s.Workers);
        Assert.Equal(8 * 7 + 2, s.Window);
        Assert.True(Buffers(s) <= 256 * MiB / 2);
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(4 * MiB)]
    [InlineData(48 * MiB)]
    [InlineData(100 * MiB)]
    [InlineData(1000 * MiB)]
    public void Never_less_than_one_worker_nor_batches_below_the_stores_least(long available)
    {
        var s = CaptureShape.For(available, 2);
        Assert.InRange(s.Workers, 1, 2);
        Assert.InRange(s.ReadAheadPieces, 2, 8);
        Assert.True(s.Window >= 2 * s.Workers + 2);
        Assert.InRange(s.BatchBytes, P2V.Store.StoreCaptureSink.MinBatchBytes, P2V.Store.StoreCaptureSink.DefaultBatchBytes);
    }

    [Fact]
    public void More_memory_never_gives_fewer_workers_a_shorter_window_less_read_ahead_or_a_lower_zstd_level()
    {
        foreach (int cores in new[] { 1, 2, 4, 32 })
        {
            var last = CaptureShape.For(1, cores);
            for (long free = MiB / 2; free <= 2048 * MiB; free += MiB / 4)
            {
                var s = CaptureShape.For(free, cores);
                Assert.True(s.Workers >= last.Workers && s.Window >= last.Window && s.ReadAheadPieces >= last.ReadAheadPieces && s.BatchBytes >= last.BatchBytes
                    && s.MaxZstdLevel >= last.MaxZstdLevel,
                    $"{cores} cores: {free >> 10} KiB free gives {s}, less than {last}");
                last = s;
            }
        }
    }

    // What the shape keeps in memory at most: the read-ahead's pieces, the window's chunks (256 KiB and their stored
    // form), the store's batches (about 4 × BatchBytes).
    private static long Buffers(CaptureShape s) => s.ReadAheadPieces * MiB + s.Window * 512L * 1024 + 4 * s.BatchBytes;
}
