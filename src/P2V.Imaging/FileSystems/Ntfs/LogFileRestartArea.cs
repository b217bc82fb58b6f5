using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>What the first restart page of $LogFile says about the journal.</summary>
public enum LogFileState
{
    /// <summary>A restart area that says no client is active or the volume is clean: Windows replays nothing.</summary>
    Clean,
    /// <summary>Filled with 0xFF, as ntfs-3g, ntfsfix and mkntfs leave it: Windows starts a fresh log.</summary>
    Empty,
    /// <summary>Active clients and no clean flag: Windows would replay the log at mount, over anything written offline.</summary>
    Unclean,
}

/// <summary>
/// The restart page at the start of $LogFile ("RSTR", update-sequence protected) and its restart area.
/// Layout: NTFS Documentation, "Files: $LogFile"; ntfs-3g logfile.h RESTART_PAGE_HEADER / RESTART_AREA and
/// logfile.c ntfs_is_logfile_clean: the log needs no replay when client_in_use_list is LOGFILE_NO_CLIENT
/// (0xFFFF) or the RESTART_VOLUME_IS_CLEAN flag (0x0002) is set. Two copies exist, one per system page;
/// the one with the higher current LSN is the newer.
/// </summary>
public sealed record LogFileRestartArea(long CurrentLsn, ushort ClientInUseList, ushort Flags)
{
    // Restart page header (after the multi-sector header) and restart area fields.
    public const int SystemPageSizeField = 0x10;
    public const int RestartAreaOffsetField = 0x18;
    public const int AreaCurrentLsnField = 0x00, AreaClientInUseListField = 0x0C, AreaFlagsField = 0x0E;

    public const ushort NoClient = 0xFFFF;
    public const ushort VolumeIsClean = 0x0002;

    public bool IsClean => ClientInUseList == NoClient || (Flags & VolumeIsClean) != 0;

    /// <summary>Parses the restart page at the start of <paramref name="page"/> (one system page, or more); null when it carries no restart page magic.</summary>
    public static LogFileRestartArea? Parse(Span<byte> page, long volumeOffset)
    {
        if (page.Length < 0x30 || !(page[..4].SequenceEqual("RSTR"u8) || page[..4].SequenceEqual("CHKD"u8))) return null;
        int systemPageSize = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(page[SystemPageSizeField..]), int.MaxValue);
        if (systemPageSize < 512 || systemPageSize > page.Length || (systemPageSize & (systemPageSize - 1)) != 0)
            throw new NtfsException(volumeOffset + SystemPageSizeField, $"$LogFile: restart page system page size {systemPageSize} is not a power of two in 512..{page.Length}");
        var restart = page[..systemPageSize];
        UpdateSequence.Apply(restart, volumeOffset, "$LogFile restart page");
        int areaOffset = BinaryPrimitives.ReadUInt16LittleEndian(restart[RestartAreaOffsetField..]);
        if ((areaOffset & 7) != 0 || areaOffset + 0x10 > systemPageSize)
            throw new NtfsException(volumeOffset + RestartAreaOffsetField, $"$LogFile: restart area offset {areaOffset} is misaligned or outside the {systemPageSize}-byte page");
        var area = restart[areaOffset..];
        return new LogFileRestartArea(
            BinaryPrimitives.ReadInt64LittleEndian(area[AreaCurrentLsnField..]),
            BinaryPrimitives.ReadUInt16LittleEndian(area[AreaClientInUseListField..]),
            BinaryPrimitives.ReadUInt16LittleEndian(area[AreaFlagsField..]));
    }
}
