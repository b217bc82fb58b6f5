using P2V.Imaging;

namespace P2V.Windows.Registry;

/// <summary>
/// A corrupt, dirty or unsupported registry hive. <see cref="CorruptDataException.Offset"/> is the cell offset
/// (relative to the start of the hive bins data, as every offset inside a hive is), or for base-block problems the
/// file offset of the field; <see cref="Hive"/> names the hive file.
/// </summary>
public class RegistryHiveException(string hive, long offset, string message)
    : CorruptDataException(offset, $"registry hive '{hive}': {message} (offset 0x{offset:X})")
{
    public string Hive { get; } = hive;
    /// <summary>What is wrong, without the hive's name and the offset.</summary>
    public string Reason { get; } = message;
}

/// <summary>
/// A dirty hive (its sequence numbers differ) that no transaction log brings up to date. When
/// <see cref="PrimaryUsable"/>, opening it with acceptDirty reads the primary file as it stands.
/// </summary>
public sealed class DirtyHiveException(string hive, long offset, string message, bool primaryUsable)
    : RegistryHiveException(hive, offset, message)
{
    public bool PrimaryUsable { get; } = primaryUsable;
}
