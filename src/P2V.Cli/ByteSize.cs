using System.Globalization;

namespace P2V.Cli;

/// <summary>Byte counts as people write and read them: binary units (K = 1024), one format for every command.</summary>
public static class ByteSize
{
    /// <summary>"512", "64K", "8M", "8G", "2T"; "KiB", "KB" and "k" mean the same. False for anything else, negative or too large.</summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var s = text.Trim();
        if (s.EndsWith('B') || s.EndsWith('b')) s = s[..^1];
        if (s.EndsWith('i') || s.EndsWith('I')) s = s[..^1];
        int shift = s.Length == 0 ? 0 : char.ToUpperInvariant(s[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, 'P' => 50, _ => 0 };
        if (shift > 0) s = s[..^1];
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n > long.MaxValue >> shift) return false;
        bytes = n << shift;
        return true;
    }

    /// <summary>"512 B", "1.5 KiB", "47.0 MiB", "2.00 GiB".</summary>
    public static string Format(long n) => n switch
    {
        >= 1L << 40 => $"{n / (double)(1L << 40):F2} TiB",
        >= 1L << 30 => $"{n / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):F1} MiB",
        >= 1L << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };

    /// <summary>Throughput in decimal MB/s, as disk tools and the benchmarks report it.</summary>
    public static string Rate(long bytes, TimeSpan t) => $"{bytes / Math.Max(1e-6, t.TotalSeconds) / 1e6:F0} MB/s";
}
