using System.Diagnostics;
using System.Text;

namespace P2V.Agent;

/// <summary>
/// The agent's log: each line goes to the console at once (the serial console shows it) and is kept until it
/// has reached the job's log on the controller, so a failure sends everything the controller has not seen.
/// </summary>
public sealed class AgentLog(TextWriter console)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly StringBuilder _unsent = new();
    private readonly Lock _lock = new();

    public void Write(string line)
    {
        var stamped = $"{_clock.Elapsed.TotalSeconds,8:F1} {line}";
        lock (_lock)
        {
            console.WriteLine("p2v-agent: " + line);
            console.Flush();
            _unsent.Append(stamped).Append('\n');
        }
    }

    /// <summary>Sends the lines the controller has not had yet; on failure they stay for the next try.</summary>
    public async Task FlushAsync(ControllerClient controller, long job, CancellationToken cancel)
    {
        string text;
        lock (_lock)
        {
            if (_unsent.Length == 0) return;
            text = _unsent.ToString();
            _unsent.Clear();
        }
        try
        {
            await controller.LogAsync(job, text, cancel);
        }
        catch
        {
            lock (_lock) _unsent.Insert(0, text);
            throw;
        }
    }
}
