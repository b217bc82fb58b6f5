using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace P2V.Imaging.VirtualDisks;

/// <summary>What <see cref="DirectReader"/> and <see cref="DirectWriter"/> share: turning O_DIRECT on for an open file (open(2), fcntl(2)).</summary>
internal static partial class DirectIo
{
    /// <summary>4 KiB: a multiple of every logical block size (512 or 4096) and of the page size, which O_DIRECT asks for.</summary>
    public const int Alignment = 4096;

    /// <summary>
    /// Adds O_DIRECT to <paramref name="handle"/>; false where the file system refuses it (EINVAL), or where it is
    /// tmpfs, which takes the flag but keeps its data in the page cache all the same (since Linux 6.6).
    /// </summary>
    public static bool TryEnable(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux()) return false;
        int fd = (int)handle.DangerousGetHandle();
        // A file's file system; a device node's (devtmpfs, tmpfs too) says nothing of the device.
        Span<long> stat = stackalloc long[16]; // struct statfs (statfs(2)): f_type first, 120 bytes on 64-bit Linux
        if (FileStatus.OfDescriptor(fd).Kind == FileKind.Regular && FStatFs(fd, ref MemoryMarshal.GetReference(stat)) == 0 && stat[0] == TmpfsMagic)
            return false;
        int flags = Fcntl(fd, GetFlags, 0);
        return flags >= 0 && Fcntl(fd, SetFlags, flags | ODirect) >= 0;
    }

    /// <summary>Where in <paramref name="pinned"/> (an array on the pinned heap, which never moves) the first <see cref="Alignment"/> boundary lies.</summary>
    public static int AlignedOffset(byte[] pinned) =>
        (int)((Alignment - Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0) % Alignment) % Alignment);

    /// <summary>A pinned buffer with <paramref name="length"/> bytes from an <see cref="Alignment"/> boundary on.</summary>
    public static Memory<byte> AlignedBuffer(int length)
    {
        var array = GC.AllocateUninitializedArray<byte>(length + Alignment, pinned: true);
        return array.AsMemory(AlignedOffset(array), length);
    }

    private const int GetFlags = 3, SetFlags = 4;
    private const long TmpfsMagic = 0x01021994;

    /// <summary>O_DIRECT's value differs by architecture (asm-generic: 040000; arm and arm64: 0200000).</summary>
    private static int ODirect => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static partial int FStatFs(int fd, ref long buffer);
}
