using P2V.Imaging;

namespace P2V.Windows.Registry;

/// <summary>
/// A corrupt, dirty or unsupported registry hive. <see cref="CorruptDataException.Offset"/> is the cell offset
/// (relative to the start of the hive bins data, as every offset inside a hive is), or for base-block problems the
/// file offset of the field; <see cref="Hive"/> names the hive file.
/// </summary>
public sealed class RegistryHiveException(string hive, long offset, string message)
    : CorruptDataException(offset, $"registry hive '{hive}': {message} (offset 0x{offset:X})")
{
    public string Hive { get; } = hive;
}
