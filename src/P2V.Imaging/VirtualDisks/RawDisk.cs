using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace P2V.Imaging.VirtualDisks;

/// <summary>A raw disk: a plain disk image file or a block device, sector for sector.</summary>
public sealed partial class RawDisk : IVirtualDisk
{
    private readonly SafeFileHandle _handle;
    private readonly bool _isBlockDevice;

    private RawDisk(SafeFileHandle handle, string path, long length, int sectorSize, bool canWrite, bool isBlockDevice)
    {
        _handle = handle;
        Path = path;
        Length = length;
        SectorSize = sectorSize;
        CanWrite = canWrite;
        _isBlockDevice = isBlockDevice;
    }

    public string Path { get; }
    public long Length { get; }
    public int SectorSize { get; }
    public bool CanWrite { get; }

    public static RawDisk OpenRead(string path, int sectorSize = 512) => Open(path, FileAccess.Read, sectorSize);

    public static RawDisk OpenReadWrite(string path, int sectorSize = 512) => Open(path, FileAccess.ReadWrite, sectorSize);

    /// <summary>Creates (or truncates) a sparse raw image file of <paramref name="length"/> bytes.</summary>
    public static RawDisk Create(string path, long length, int sectorSize = 512)
    {
        var handle = HostFile.CreateHandle(path);
        try
        {
            RandomAccess.SetLength(handle, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        return new RawDisk(handle, path, length, sectorSize, canWrite: true, isBlockDevice: false);
    }

    private static RawDisk Open(string path, FileAccess access, int sectorSize)
    {
        var share = access == FileAccess.Read ? FileShare.ReadWrite : FileShare.Read;
        var handle = File.OpenHandle(path, FileMode.Open, access, share, FileOptions.None);
        bool isBlock = OperatingSystem.IsLinux() && IsBlockDevice(path);
        long length = isBlock ? BlockDeviceSize(handle, path) : RandomAccess.GetLength(handle);
        return new RawDisk(handle, path, length, sectorSize, access != FileAccess.Read, isBlock);
    }

    public void ReadAt(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset + buffer.Length > Length)
            throw new VirtualDiskException(Path, offset, $"read of {buffer.Length} bytes past the end of the {Length}-byte disk");
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0) throw new VirtualDiskException(Path, offset + done, "short read: the disk ended early");
            done += n;
        }
    }

    public void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        if (!CanWrite) throw new ReadOnlyDiskException(Path);
        if (offset < 0 || offset + data.Length > Length)
            throw new VirtualDiskException(Path, offset, $"write of {data.Length} bytes past the end of the {Length}-byte disk");
        RandomAccess.Write(_handle, data, offset);
    }

    /// <summary>For a file, its data ranges as the file system reports them (SEEK_DATA/SEEK_HOLE); for a device, everything.</summary>
    public IEnumerable<Extent> AllocatedExtents()
    {
        if (_isBlockDevice || !OperatingSystem.IsLinux())
        {
            yield return new Extent(0, Length);
            yield break;
        }
        int fd = (int)_handle.DangerousGetHandle();
        long pos = 0;
        while (pos < Length)
        {
            long data = LSeek(fd, pos, SeekData);
            if (data < 0 || data >= Length) yield break; // ENXIO: no more data
            long hole = LSeek(fd, data, SeekHole);
            if (hole < 0 || hole > Length) hole = Length;
            yield return new Extent(data, hole - data);
            pos = hole;
        }
    }

    /// <summary>A raw file or block device maps the disk one to one: a direct handle on the same path reads the same bytes.</summary>
    public DirectReader? OpenDirectReader() => DirectReader.TryOpen(Path, Length);

    public DirectWriter? OpenDirectWriter(bool blank) => CanWrite ? DirectWriter.TryOpen(_handle, Path, Length, Length, blank) : null;

    /// <summary>pread and pwrite: a raw disk has no state of its own to guard.</summary>
    public bool ConcurrentReads => true;

    public bool ConcurrentWrites => true;

    public void StartWriteBack()
    {
        if (CanWrite) HostFile.StartWriteBack(_handle, Path);
    }

    public void Flush()
    {
        if (CanWrite) RandomAccess.FlushToDisk(_handle);
    }

    public void Dispose() => _handle.Dispose();

    private const int SeekData = 3, SeekHole = 4;
    private const ulong BlkGetSize64 = 0x80081272;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, ulong request, out long value);

    /// <summary>A block device is known to the kernel under /sys/class/block by its resolved name.</summary>
    private static bool IsBlockDevice(string path)
    {
        var target = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? System.IO.Path.GetFullPath(path);
        return target.StartsWith("/dev/", StringComparison.Ordinal)
            && Directory.Exists($"/sys/class/block/{System.IO.Path.GetFileName(target)}");
    }

    private static long BlockDeviceSize(SafeFileHandle handle, string path)
    {
        if (Ioctl((int)handle.DangerousGetHandle(), BlkGetSize64, out long size) != 0)
            throw new VirtualDiskException(path, 0, $"cannot read the block device size (errno {Marshal.GetLastPInvokeError()})");
        return size;
    }
}
