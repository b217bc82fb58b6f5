using System.Globalization;

namespace P2V.Netboot;

/// <summary>
/// One line per client step (DISCOVER, OFFER, RRQ, transfer done …): "time area client message".
/// The sink is the console for the command and a list for tests; writes are serialised.
/// </summary>
public sealed class NetbootLog(Action<string> sink)
{
    private readonly Lock _lock = new();

    public static NetbootLog None { get; } = new(_ => { });

    public void Write(string area, string client, string message)
    {
        var line = $"{DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} {area} {client} {message}";
        lock (_lock) sink(line);
    }

    /// <summary>"12.3 MB/s" style rate for transfer-done lines.</summary>
    public static string Rate(long bytes, TimeSpan elapsed)
    {
        double seconds = Math.Max(elapsed.TotalSeconds, 1e-6);
        return string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes in {seconds:0.000} s ({bytes / seconds / 1e6:0.0} MB/s)");
    }
}
