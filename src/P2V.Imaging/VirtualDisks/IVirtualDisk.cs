namespace P2V.Imaging.VirtualDisks;

/// <summary>
/// A disk as the imaging code sees it: a raw file or block device, a VHD, a VHDX, or a slice of another
/// disk (a volume). Positioned reads and writes, and which ranges hold allocated data, so that restore
/// writes only captured regions and capture of a virtual disk reads only allocated ones.
/// </summary>
public interface IVirtualDisk : IDisposable
{
    /// <summary>Size of the disk as the guest sees it, in bytes.</summary>
    long Length { get; }

    /// <summary>Logical sector size in bytes (512 or 4096).</summary>
    int SectorSize { get; }

    bool CanWrite { get; }

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; throws on a short read or a range past the end.</summary>
    void ReadAt(long offset, Span<byte> buffer);

    void WriteAt(long offset, ReadOnlySpan<byte> data);

    /// <summary>Ranges that may hold data; everything else reads as zeros. A raw file reports its data (non-hole) ranges.</summary>
    IEnumerable<Extent> AllocatedExtents();

    void Flush();

    /// <summary>
    /// Starts writing what was written so far to stable storage, without waiting: a restore, which ends in
    /// <see cref="Flush"/>, calls it as it goes, so that the disk works while the CPU does, and the flush waits only for the tail.
    /// </summary>
    void StartWriteBack() { }

    /// <summary>Whether <see cref="ReadAt"/> may run on several threads at once (positioned reads of a file that nothing changes).</summary>
    bool ConcurrentReads => false;

    /// <summary>
    /// Whether <see cref="WriteAt"/> may run on several threads at once for disjoint ranges. A container that allocates
    /// blocks (dynamic VHD, VHDX) lays them out in the order they are first written or <see cref="Allocate"/>d, so a
    /// copier that wants them in disk order allocates in disk order and then writes from any thread.
    /// </summary>
    bool ConcurrentWrites => false;

    /// <summary>Whether a write to [offset, offset+length) would first give a block its place in the file; never, for a disk without blocks.</summary>
    bool NeedsAllocation(long offset, long length) => false;

    /// <summary>Gives the blocks that hold [offset, offset+length) their places in the file, as a write there would; nothing for a disk without blocks.</summary>
    void Allocate(long offset, long length) { }

    /// <summary>
    /// A handle for reads that bypass the page cache (O_DIRECT), in this disk's own offsets, or null where the disk
    /// has none (a container, a file system without direct I/O). The caller disposes it.
    /// </summary>
    DirectReader? OpenDirectReader() => null;

    /// <summary>
    /// A handle for writes that bypass the page cache (O_DIRECT), in this disk's own offsets, or null where the disk
    /// has none (read-only, a container that allocates blocks, a file system without direct I/O). The caller disposes it.
    /// <paramref name="blank"/>: the disk is new and reads as zeros wherever nothing was written (DirectWriter writes zeros into small gaps).
    /// </summary>
    DirectWriter? OpenDirectWriter(bool blank) => null;
}
