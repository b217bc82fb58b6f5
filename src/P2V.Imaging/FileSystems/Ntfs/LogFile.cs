using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// $LogFile as far as an offline writer needs it: whether Windows would replay it at mount (its restart area's
/// clients, LogFileRestartArea), and emptying it when the user forces a write on a volume that needs a replay.
/// </summary>
internal sealed class LogFile(AttributeReader io, MasterFileTable mft)
{
    private const int WriteChunk = 1 << 20;

    /// <summary>Reads the restart area (both copies; the newer counts).</summary>
    public LogFileState State()
    {
        var data = Data();
        var bytes = new byte[(int)Math.Min(data.DataSize, 2 * 65536)];
        io.Read(data, 0, bytes);
        int firstPage = Math.Min(bytes.Length, 4096);
        if (bytes.AsSpan(0, firstPage).IndexOfAnyExcept((byte)0xFF) < 0) return LogFileState.Empty;
        var first = LogFileRestartArea.Parse(bytes, data.VolumeOffset)
            ?? throw new NtfsException(io.VolumeOffsetOf(data, 0), $"$LogFile: no restart page (magic \"{FileRecord.Printable(bytes.AsSpan(0, 4))}\", expected \"RSTR\")");
        int pageSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(LogFileRestartArea.SystemPageSizeField));
        LogFileRestartArea? second = null;
        if (pageSize < bytes.Length)
        {
            try { second = LogFileRestartArea.Parse(bytes.AsSpan(pageSize), io.VolumeOffsetOf(data, pageSize)); }
            catch (NtfsException) { } // a torn second copy: the first stands
        }
        var newest = second is not null && second.CurrentLsn > first.CurrentLsn ? second : first;
        return newest.IsClean ? LogFileState.Clean : LogFileState.Unclean;
    }

    private AttributeData Data()
    {
        var log = mft.Open(FileReference.Of(SystemFiles.LogFile), "$LogFile");
        var data = mft.OpenAttribute(log, AttributeType.Data, "") ?? throw new NtfsException(log.BaseRecord.VolumeOffset, "$LogFile: no unnamed $DATA attribute");
        if (data.Resident is not null || data.DataSize < 8192) throw new NtfsException(data.VolumeOffset, $"$LogFile: {data.DataSize} bytes{(data.Resident is null ? "" : ", resident")}, too small for its restart pages");
        return data;
    }

    /// <summary>As ntfs-3g's ntfs_logfile_reset: all 0xFF is a log Windows re-initialises instead of replaying.</summary>
    public void Reset()
    {
        var data = Data();
        var ones = new byte[WriteChunk];
        ones.AsSpan().Fill(0xFF);
        for (long offset = 0; offset < data.DataSize; offset += WriteChunk)
            io.Write(data, offset, ones.AsSpan(0, (int)Math.Min(WriteChunk, data.DataSize - offset)));
    }
}
