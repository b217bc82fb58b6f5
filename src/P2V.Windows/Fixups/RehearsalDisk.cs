using P2V.Imaging;
using P2V.Imaging.VirtualDisks;

namespace P2V.Windows.Fixups;

/// <summary>
/// A copy-on-write view of a disk that keeps every write in memory and never touches the disk below: the fix-up
/// plan is carried out on it first, so that whatever would stop the real run (a file the NTFS writer cannot
/// replace, no free clusters, a runlist that does not fit its record) stops the plan instead, with nothing written.
/// Holds only the blocks written (a hive, a HAL and kernels, a few sectors: some MiB).
/// </summary>
internal sealed class RehearsalDisk(IVirtualDisk below) : IVirtualDisk
{
    private const int BlockSize = 4096;
    private readonly Dictionary<long, byte[]> _written = [];

    public long Length => below.Length;
    public int SectorSize => below.SectorSize;
    public bool CanWrite => true;

    public void ReadAt(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset + buffer.Length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"read of [{offset}, +{buffer.Length}) past the {Length}-byte disk");
        while (buffer.Length > 0)
        {
            long block = offset / BlockSize;
            int at = (int)(offset % BlockSize), n = Math.Min(buffer.Length, BlockSize - at);
            if (_written.TryGetValue(block, out var data)) data.AsSpan(at, n).CopyTo(buffer);
            else
            {
                // Runs of unwritten blocks go to the disk below in one read.
                long end = offset + n;
                while (end < offset + buffer.Length && !_written.ContainsKey(end / BlockSize)) end = Math.Min(offset + buffer.Length, (end / BlockSize + 1) * BlockSize);
                n = (int)(end - offset);
                below.ReadAt(offset, buffer[..n]);
            }
            offset += n;
            buffer = buffer[n..];
        }
    }

    public void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || offset + data.Length > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"write of [{offset}, +{data.Length}) past the {Length}-byte disk");
        while (data.Length > 0)
        {
            long block = offset / BlockSize;
            int at = (int)(offset % BlockSize), n = Math.Min(data.Length, BlockSize - at);
            if (!_written.TryGetValue(block, out var copy))
            {
                copy = new byte[BlockSize];
                long start = block * BlockSize;
                below.ReadAt(start, copy.AsSpan(0, (int)Math.Min(BlockSize, Length - start)));
                _written[block] = copy;
            }
            data[..n].CopyTo(copy.AsSpan(at));
            offset += n;
            data = data[n..];
        }
    }

    public IEnumerable<Extent> AllocatedExtents() => below.AllocatedExtents();

    public void Flush() { }

    public void Dispose() { }
}
