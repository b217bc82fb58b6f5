using P2V.Fuzz;
using SharpFuzz;

// One fuzz target per parser of untrusted bytes (tests/P2V.Fuzz/Targets.cs); run one with tests/P2V.Fuzz/run.sh.
// Corrupt input must end in the area's corrupt-data exception; anything else, or a hang, is a finding.
if (args is ["seeds", var dir])
{
    // Run before instrumentation (instrumented code needs AFL's shared memory): what only our own writers make.
    Seeds.Write(dir);
    return 0;
}
if (args.Length < 1 || !Targets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: P2V.Fuzz {string.Join('|', Targets.All.Keys)} [input-file]");
    return 2;
}

if (args.Length > 1)
{
    // Replays one input (a crash AFL saved) outside AFL.
    Targets.Run(target, File.ReadAllBytes(args[1]));
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    Targets.Run(target, ms.ToArray());
});
return 0;
