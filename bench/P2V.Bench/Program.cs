using BenchmarkDotNet.Running;

// Micro-benchmarks of the hot paths; `bench/compare` runs the side-by-side comparison with peer tools.
// `chunking BASE OTHER...` compares chunk boundaries on real volumes (ChunkingComparison).
// `load --controller URL --token T ...` puts agents, captures and a console on a running p2v server (Load/LoadBenchmark).
if (args.Length > 0 && args[0] == "load") return await P2V.Bench.Load.LoadBenchmark.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "chunking") return await ChunkingComparison.RunAsync(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
