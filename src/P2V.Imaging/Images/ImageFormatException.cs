namespace P2V.Imaging.Images;

/// <summary>An image file is truncated, corrupt or not a P2V image; says what was expected and at which file offset.</summary>
public sealed class ImageFormatException(long offset, string message)
    : CorruptDataException(offset, $"image offset {offset}: {message}");
