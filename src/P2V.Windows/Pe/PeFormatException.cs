using P2V.Imaging;

namespace P2V.Windows.Pe;

/// <summary>A PE file or version resource that is not what the PE/COFF specification describes; Offset is the file offset.</summary>
public sealed class PeFormatException(string file, long offset, string message)
    : CorruptDataException(offset, $"PE file '{file}': {message} (offset 0x{offset:X})")
{
}
