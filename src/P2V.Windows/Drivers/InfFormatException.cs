namespace P2V.Windows.Drivers;

/// <summary>An INF file that does not parse, or a driver package that contradicts itself: names the file and the line.</summary>
public sealed class InfFormatException(string file, int line, string message)
    : IOException(line > 0 ? $"{file}, line {line}: {message}" : $"{file}: {message}")
{
    public string File { get; } = file;
    /// <summary>1-based; 0 when the problem is not on one line (a missing section).</summary>
    public int Line { get; } = line;
}
