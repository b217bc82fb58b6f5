using BenchmarkDotNet.Running;

// Micro-benchmarks of the hot paths; `bench/compare` runs the side-by-side comparison with peer tools.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
