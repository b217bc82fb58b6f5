namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>Attribute type codes, as defined in $AttrDef (NTFS Documentation, "Attributes" overview; ntfs-3g layout.h ATTR_TYPES).</summary>
public enum AttributeType : uint
{
    StandardInformation = 0x10,
    AttributeList = 0x20,
    FileName = 0x30,
    ObjectId = 0x40,
    SecurityDescriptor = 0x50,
    VolumeName = 0x60,
    VolumeInformation = 0x70,
    Data = 0x80,
    IndexRoot = 0x90,
    IndexAllocation = 0xA0,
    Bitmap = 0xB0,
    ReparsePoint = 0xC0,
    EaInformation = 0xD0,
    Ea = 0xE0,
    LoggedUtilityStream = 0x100,
    End = 0xFFFF_FFFF,
}

/// <summary>Flags in an attribute record header (ntfs-3g layout.h ATTR_FLAGS).</summary>
[Flags]
public enum AttributeFlags : ushort
{
    None = 0,
    /// <summary>Any bit of the low byte: the value is compressed (LZNT1 on every NTFS so far).</summary>
    CompressionMask = 0x00FF,
    Encrypted = 0x4000,
    Sparse = 0x8000,
}
