using BenchmarkDotNet.Running;
using PimQuant.Bench;

// `throughput [--threads T] [--scale PERCENT] [--filter TEXT]` prints images/s of whole networks;
// anything else goes to BenchmarkDotNet (e.g. `--filter *KernelBenchmarks* --job short`). Benchmarks run
// in process, so the harness works from any build output without regenerating and rebuilding projects.
if (args.Length > 0 && args[0] == "throughput") Throughput.Run(args[1..]);
else BenchmarkSwitcher.FromAssembly(typeof(KernelBenchmarks).Assembly).Run(args.Contains("--inProcess") ? args : [.. args, "--inProcess"]);
