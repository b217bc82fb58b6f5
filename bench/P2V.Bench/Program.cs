using BenchmarkDotNet.Running;

// Micro-benchmarks of the hot paths; `bench/compare` runs the side-by-side comparison with peer tools.
// `chunking BASE OTHER...` compares chunk boundaries on real volumes (ChunkingComparison).
if (args.Length > 0 && args[0] == "chunking") return await ChunkingComparison.RunAsync(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
