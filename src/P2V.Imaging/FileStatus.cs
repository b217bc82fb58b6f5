using System.Runtime.InteropServices;

namespace P2V.Imaging;

public enum FileKind { Missing, Regular, Directory, BlockDevice, CharacterDevice, Fifo, Socket }

/// <summary>
/// What a path names, from statx(2) (symbolic links followed): its kind, size, and identity (device and inode), so
/// that a command can refuse a folder, a FIFO or /dev/zero before any work, and notice that two names are one file.
/// </summary>
public readonly partial record struct FileStatus(FileKind Kind, long Size, ulong Device, ulong Inode)
{
    public static FileStatus Of(string path) =>
        OperatingSystem.IsLinux() ? Statx(AtFdCwd, path, 0) : Portable(path);

    /// <summary>The file behind an open descriptor (0, 1, 2); <see cref="FileKind.Missing"/> when it is closed.</summary>
    public static FileStatus OfDescriptor(int fd) =>
        OperatingSystem.IsLinux() ? Statx(fd, "", AtEmptyPath) : new FileStatus(FileKind.Regular, 0, 0, 0);

    /// <summary>
    /// Whether descriptor <paramref name="fd"/> is open for writing. A process started with standard output closed
    /// gets its first opened file (often read-only) as descriptor 1: only the access mode tells the two apart.
    /// </summary>
    public static bool IsOpenForWriting(int fd)
    {
        if (!OperatingSystem.IsLinux()) return true;
        int flags = Fcntl(fd, FGetFl);
        return flags >= 0 && (flags & OAccMode) != ORdOnly;
    }

    public bool Exists => Kind != FileKind.Missing;

    /// <summary>True when both name the same file (the same inode on the same device), whatever the path or link.</summary>
    public bool IsSameFileAs(FileStatus other) => Exists && other.Exists && Inode != 0 && Device == other.Device && Inode == other.Inode;

    /// <summary>"a folder", "a FIFO", … for messages.</summary>
    public string Describe() => Kind switch
    {
        FileKind.Missing => "missing",
        FileKind.Regular => Size == 0 ? "an empty file" : "a file",
        FileKind.Directory => "a folder",
        FileKind.BlockDevice => "a block device",
        FileKind.CharacterDevice => "a character device",
        FileKind.Fifo => "a FIFO",
        FileKind.Socket => "a socket",
        _ => Kind.ToString(),
    };

    private static FileStatus Portable(string path) =>
        Directory.Exists(path) ? new FileStatus(FileKind.Directory, 0, 0, 0)
        : File.Exists(path) ? new FileStatus(FileKind.Regular, new FileInfo(path).Length, 0, 0)
        : default;

    // struct statx (include/uapi/linux/stat.h) has one layout on every architecture (fields in native byte order).
    private const int StatxSize = 256, ModeOffset = 28, InodeOffset = 32, SizeOffset = 40, DevMajorOffset = 136, DevMinorOffset = 140;
    private const int AtFdCwd = -100, AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;

    private static unsafe FileStatus Statx(int dirfd, string path, int flags)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (StatxCall(dirfd, path, flags, StatxBasicStats, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // ENOENT, ENOTDIR: nothing there; EBADF: a closed descriptor. Anything else (EACCES, ELOOP) is the open's to report.
            if (errno is 2 or 20 or 9) return default;
            return Portable(path);
        }
        var s = new ReadOnlySpan<byte>(buffer, StatxSize);
        int mode = MemoryMarshal.Read<ushort>(s[ModeOffset..]);
        var kind = (mode & 0xF000) switch // S_IFMT
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x6000 => FileKind.BlockDevice,
            0x2000 => FileKind.CharacterDevice,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            _ => FileKind.Regular,
        };
        ulong device = (ulong)MemoryMarshal.Read<uint>(s[DevMajorOffset..]) << 32 | MemoryMarshal.Read<uint>(s[DevMinorOffset..]);
        return new FileStatus(kind, (long)MemoryMarshal.Read<ulong>(s[SizeOffset..]), device, MemoryMarshal.Read<ulong>(s[InodeOffset..]));
    }

    private const int FGetFl = 3, OAccMode = 3, ORdOnly = 0;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int StatxCall(int dirfd, string path, int flags, uint mask, byte* buffer);
}
