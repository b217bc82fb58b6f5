using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace P2V.Netboot.Tftp;

/// <summary>
/// Sends a window of DATA packets on a connected UDP socket in as few system calls as Linux allows: with UDP
/// segmentation offload (UDP_SEGMENT, Linux 4.18+) consecutive full slots of the ring — each already "header +
/// blksize bytes" — leave as one buffer the kernel cuts into datagrams; otherwise one sendmmsg(2) for the window;
/// elsewhere, or if those fail, one send per packet. On loopback and fast LANs the per-packet path through the
/// stack is most of a windowed transfer's cost.
/// </summary>
internal static unsafe partial class DatagramBatch
{
    private static bool _unavailable = !OperatingSystem.IsLinux() || !Environment.Is64BitProcess;

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public byte* Base; public nuint Length; }

    // struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; } on LP64 Linux: msghdr is 56 bytes (its int
    // msg_flags is padded to 8), then msg_len and padding make 64.
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private struct MMsgHdr
    {
        public void* Name; public uint NameLength; public IoVec* Iov; public nuint IovLength;
        public void* Control; public nuint ControlLength; public int Flags; private int _padding; public uint SentLength;
    }

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    private static partial int SendMMsg(nint fd, MMsgHdr* messages, uint count, int flags);

    private const int SolUdp = 17, UdpSegment = 103; // <linux/udp.h>
    /// <summary>An IPv4 datagram carries at most 65535 bytes; a segmented send is limited the same way, and to 64 segments.</summary>
    private const int MaxSegmentedBytes = 65000, MaxSegments = 64;

    /// <summary>
    /// Turns on segmentation offload for datagrams of <paramref name="segmentSize"/> bytes; false when the kernel
    /// lacks it. Only worth it when several segments fit one send, and only for sizes no control packet exceeds.
    /// </summary>
    public static bool TryEnableSegmentation(Socket socket, int segmentSize)
    {
        if (!OperatingSystem.IsLinux() || segmentSize < 512 || segmentSize * 2 > MaxSegmentedBytes) return false;
        try
        {
            socket.SetRawSocketOption(SolUdp, UdpSegment, BitConverter.GetBytes(segmentSize));
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>
    /// Sends the packets ring[offsets[i] .. offsets[i] + lengths[i]). With <paramref name="segmentSize"/> set (after
    /// <see cref="TryEnableSegmentation"/>), adjacent full-size packets go out as one segmented send; returns false
    /// if the kernel refused that (the caller then stops asking), having sent everything by the other paths.
    /// </summary>
    public static bool Send(Socket socket, byte[] ring, ReadOnlySpan<int> offsets, ReadOnlySpan<int> lengths, int segmentSize)
    {
        if (segmentSize == 0) { Send(socket, ring, offsets, lengths); return true; }
        int i = 0, count = offsets.Length;
        while (i < count)
        {
            // A run: slots adjacent in the ring, all full-size but perhaps the last (a short final block).
            int start = offsets[i], total = lengths[i], end = i + 1;
            while (end < count && lengths[end - 1] == segmentSize && offsets[end] == start + total
                   && end - i < MaxSegments && total + lengths[end] <= MaxSegmentedBytes)
            {
                total += lengths[end];
                end++;
            }
            try { socket.Send(ring.AsSpan(start, total)); }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.InvalidArgument or SocketError.SocketError or SocketError.MessageSize)
            {
                Send(socket, ring, offsets[i..], lengths[i..]);
                return false;
            }
            i = end;
        }
        return true;
    }

    /// <summary>Sends <paramref name="count"/> packets; packet i is ring[offsets[i] .. offsets[i] + lengths[i]).</summary>
    public static void Send(Socket socket, byte[] ring, ReadOnlySpan<int> offsets, ReadOnlySpan<int> lengths)
    {
        int count = offsets.Length, done = 0;
        if (!_unavailable && count > 1)
        {
            var iov = stackalloc IoVec[count];
            var msgs = stackalloc MMsgHdr[count];
            fixed (byte* basePtr = ring)
            {
                for (int i = 0; i < count; i++)
                {
                    iov[i] = new IoVec { Base = basePtr + offsets[i], Length = (nuint)lengths[i] };
                    msgs[i] = new MMsgHdr { Iov = &iov[i], IovLength = 1 };
                }
                bool added = false;
                var handle = socket.SafeHandle;
                try
                {
                    handle.DangerousAddRef(ref added);
                    while (done < count)
                    {
                        int n;
                        try { n = SendMMsg(handle.DangerousGetHandle(), msgs + done, (uint)(count - done), 0); }
                        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { _unavailable = true; break; }
                        if (n <= 0) break; // EAGAIN (send buffer full) or an error: the plain path below waits or reports it
                        done += n;
                    }
                }
                finally { if (added) handle.DangerousRelease(); }
            }
        }
        for (int i = done; i < count; i++) socket.Send(ring.AsSpan(offsets[i], lengths[i]));
    }
}
