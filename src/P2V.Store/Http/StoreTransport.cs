using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace P2V.Store.Http;

/// <summary>
/// Kestrel's socket transport as an ingest needs it. By default each receive reads into one 4 KiB block of Kestrel's
/// memory pool, after a zero-byte receive that waits for data: an 8 GiB capture's 1.6 GiB of chunk records cost the
/// server 844k recv(2) calls, a third of its CPU in system calls (bench/compare store, perf). Blocks of
/// <see cref="BlockSize"/> let one recv(2) take what the socket holds. The zero-byte receive stays: an idle connection
/// (hundreds of polling agents) then holds no block, and it costs one more system call per 64 KiB, not per 4 KiB.
/// </summary>
public static class StoreTransport
{
    /// <summary>Bytes per block: a receive reads up to this much at once. 64 KiB: 16× fewer receives, and a connection's pipes hold a few blocks.</summary>
    public const int BlockSize = 64 << 10;

    /// <summary>For the host of <see cref="StoreEndpoints.MapImageStore"/> (`p2v server`, `p2v image serve`).</summary>
    public static IWebHostBuilder UseStoreTransport(this IWebHostBuilder host)
    {
        host.ConfigureServices(s => s.AddSingleton<IMemoryPoolFactory<byte>>(new LargeBlockPoolFactory()));
        return host;
    }

    private sealed class LargeBlockPoolFactory : IMemoryPoolFactory<byte>
    {
        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockPool();
    }

    /// <summary>
    /// Pinned blocks of <see cref="BlockSize"/> whatever size is asked for (Kestrel's pipes ask for 4 KiB segments and
    /// use all of what they get), kept for reuse up to a bound; the socket's I/O needs no pinning per operation.
    /// </summary>
    private sealed class LargeBlockPool : MemoryPool<byte>
    {
        // Enough for several busy connections' pipes; blocks beyond it go to the GC when returned.
        private const int MaxFree = 256;
        private readonly ConcurrentQueue<Block> _free = new();
        private int _freeCount;
        private bool _disposed;

        public override int MaxBufferSize => BlockSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
            if (_free.TryDequeue(out var block))
            {
                Interlocked.Decrement(ref _freeCount);
                block.Rented = true;
                return block;
            }
            return new Block(this) { Rented = true };
        }

        private void Return(Block block)
        {
            if (Volatile.Read(ref _disposed) || Interlocked.Increment(ref _freeCount) > MaxFree)
            {
                if (!_disposed) Interlocked.Decrement(ref _freeCount);
                return;
            }
            _free.Enqueue(block);
        }

        protected override void Dispose(bool disposing)
        {
            _disposed = true;
            _free.Clear();
        }

        private sealed class Block(LargeBlockPool pool) : IMemoryOwner<byte>
        {
            private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
            public bool Rented;

            public Memory<byte> Memory => _array;

            public void Dispose()
            {
                if (!Rented) return;
                Rented = false;
                pool.Return(this);
            }
        }
    }
}
