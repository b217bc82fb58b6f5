namespace P2V.Imaging.Disks;

/// <summary>GPT partition type GUIDs that the capture pipeline must recognise.</summary>
public static class GptPartitionTypes
{
    /// <summary>Windows Logical Disk Manager metadata partition (dynamic disk).</summary>
    public static readonly Guid LdmMetadata = new("5808C8AA-7E8F-42E0-85D2-E1E90434CFB3");

    /// <summary>Windows Logical Disk Manager data partition (dynamic disk).</summary>
    public static readonly Guid LdmData = new("AF9B60A0-1431-4F62-BC68-3311714A69AD");

    public static readonly Guid EfiSystem = new("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    public static readonly Guid MicrosoftReserved = new("E3C9E316-0B5C-4DB8-817D-F92DF00215AE");
    public static readonly Guid MicrosoftBasicData = new("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
}
