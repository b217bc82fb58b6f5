using System.Diagnostics;
using Xunit.Abstractions;

namespace P2V.Agent.Tests;

/// <summary>
/// A QEMU VM under TCG (KVM cannot boot the Debian kernel on these machines) whose serial console is read line by
/// line; optionally started inside a network namespace. Killed and its last console lines logged on dispose.
/// </summary>
public sealed class QemuVm : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _console = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITestOutputHelper _output;
    private readonly string _name;

    public QemuVm(string name, IEnumerable<string> args, ITestOutputHelper output, string? netns = null)
    {
        _name = name;
        _output = output;
        var psi = new ProcessStartInfo(netns is null ? "qemu-system-x86_64" : "ip")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        if (netns is not null) foreach (var a in new[] { "netns", "exec", netns, "qemu-system-x86_64" }) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "-machine", "accel=tcg", "-display", "none", "-monitor", "none", "-serial", "stdio" }) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.EnableRaisingEvents = true;
        _process.OutputDataReceived += (_, e) => { if (e.Data is null) _outputClosed.TrySetResult(); else Line(e.Data); };
        _ = EndedAsync();
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Line("stderr: " + e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IReadOnlyList<string> Console { get { lock (_console) return _console.ToList(); } }

    /// <summary>The first console line (past or future) that matches.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_console)
        {
            if (_console.FirstOrDefault(match) is { } seen) return Task.FromResult(seen);
            if (_exited.Task.IsCompleted) throw new InvalidOperationException($"{_name}: QEMU ended before the line came");
            _waiters.Add((match, found));
        }
        return found.Task.WaitAsync(timeout);
    }

    /// <summary>The VM powered off (QEMU exited by itself); its exit code.</summary>
    public Task<int> WaitForExitAsync(TimeSpan timeout) => _exited.Task.WaitAsync(timeout);

    private void Line(string line)
    {
        lock (_console)
        {
            _console.Add(line);
            foreach (var w in _waiters.Where(w => w.Match(line)).ToList())
            {
                _waiters.Remove(w);
                w.Found.TrySetResult(line);
            }
        }
    }

    private async Task EndedAsync()
    {
        // Not in the output callback: WaitForExit waits for that callback's stream to end.
        await _process.WaitForExitAsync();
        await _outputClosed.Task.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        lock (_console)
        {
            foreach (var w in _waiters) w.Found.TrySetException(new InvalidOperationException($"{_name}: QEMU ended before the line came"));
            _waiters.Clear();
        }
        _exited.TrySetResult(_process.ExitCode);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        lock (_console) foreach (var l in _console.TakeLast(60)) _output.WriteLine($"{_name}: {l}");
        _process.Dispose();
    }
}
