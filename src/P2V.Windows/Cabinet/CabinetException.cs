using P2V.Imaging;

namespace P2V.Windows.Cabinet;

/// <summary>A corrupt or unsupported cabinet; Offset is the byte offset in the cabinet file (or, for compressed data, of its CFDATA block).</summary>
public sealed class CabinetException(string cabinet, long offset, string message)
    : CorruptDataException(offset, $"cabinet '{cabinet}': {message} (offset 0x{offset:X})")
{
}
