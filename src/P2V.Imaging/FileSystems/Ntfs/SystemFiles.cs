namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>The fixed MFT record numbers of the system files (NTFS Documentation, "Files"; ntfs-3g layout.h NTFS_SYSTEM_FILES).</summary>
internal static class SystemFiles
{
    public const long Mft = 0, MftMirror = 1, LogFile = 2, Volume = 3, AttrDef = 4, Root = 5, Bitmap = 6, Boot = 7,
        BadClus = 8, Secure = 9, UpCase = 10, Extend = 11;

    /// <summary>Records 12–15 are reserved, 16–23 are kept for the system files' extension records; files get records from 24 on (ntfs-3g: mft_data_pos = 24).</summary>
    public const long FirstUserRecord = 24;
}
