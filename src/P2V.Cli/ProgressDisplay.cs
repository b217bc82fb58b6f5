using System.Diagnostics;
using P2V.Imaging.Pipeline;
using Spectre.Console;

namespace P2V.Cli;

/// <summary>
/// Shows a long operation's progress: a Spectre.Console bar with MB/s and ETA on a terminal, a plain line
/// every few seconds otherwise (logs, CI), nothing with --json.
/// </summary>
public static class ProgressDisplay
{
    public static async Task<T> RunAsync<T>(string description, bool quiet, Func<Action<PipelineProgress>, Task<T>> work)
    {
        if (quiet) return await work(_ => { });
        if (!Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive)
        {
            T result = default!;
            await AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                    new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(description, maxValue: 1);
                    result = await work(p =>
                    {
                        task.MaxValue = Math.Max(1, p.BytesTotal);
                        task.Value = p.BytesDone;
                    });
                    task.Value = task.MaxValue;
                });
            return result;
        }

        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        var r = await work(p =>
        {
            if (clock.Elapsed - last < TimeSpan.FromSeconds(2)) return;
            last = clock.Elapsed;
            Console.Error.WriteLine(Line(description, p, clock.Elapsed));
        });
        return r;
    }

    internal static string Line(string description, PipelineProgress p, TimeSpan elapsed)
    {
        double rate = p.BytesDone / Math.Max(0.001, elapsed.TotalSeconds);
        double pct = p.BytesTotal > 0 ? 100.0 * p.BytesDone / p.BytesTotal : 100;
        var eta = rate > 0 ? TimeSpan.FromSeconds((p.BytesTotal - p.BytesDone) / rate) : TimeSpan.Zero;
        return $"{description}: {pct,5:F1}% {ByteSize.Format(p.BytesDone)} of {ByteSize.Format(p.BytesTotal)}, {rate / 1e6:F0} MB/s, ETA {eta:hh\\:mm\\:ss}";
    }
}
