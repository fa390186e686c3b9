using BenchmarkDotNet.Running;

// Every public class with [Benchmark] methods in this assembly is offered: add new ones in their own files.
// Benchmarks run in-process unless --inProcess is given explicitly: an out-of-process run would build the referenced
// projects again, into their own obj/ folders inside the shared source tree.
string[] effective = args.Contains("--inProcess", StringComparer.OrdinalIgnoreCase) ? args : [.. args, "--inProcess"];
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(effective);
