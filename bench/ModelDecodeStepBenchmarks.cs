using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Bench;

/// <summary>
/// One batched decode step of the tiny Llama fixture (fixtures/tiny-llama: 2 layers, dim 512, GQA 4/2 heads) on the CPU
/// in float32: cache bookkeeping (append, step tensors) + forward + argmax, for 8 sequences of about 48 tokens.
/// Compares the paged cache (block size 16) with the naive one; no target — it tracks the per-op overhead of the
/// forward pass (few TorchSharp ops per layer) that later GPU work depends on.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(32, 32)] // 32 steps from freshly prefilled sequences, set up outside the measurement
public class ModelDecodeStepBenchmarks
{
    private const int Batch = 8;
    private Llama3 _model = null!;
    private IKvCache _cache = null!;
    private readonly ReferenceAttention _attention = new();
    private int[] _sequences = [];
    private long[] _next = [];

    /// <summary>Cache layout.</summary>
    [Params("paged", "naive")]
    public string Cache { get; set; } = "paged";

    [GlobalSetup]
    public void Setup()
    {
        _model = Llama3.Load(FixtureDir(), CPU, ScalarType.Float32, maxPositions: 256);
        _cache = Cache == "paged"
            ? new PagedKvCache(_model.Config, new KvCacheOptions(Batch * 16, 16, 256), CPU, ScalarType.Float32)
            : new NaiveKvCache(_model.Config, Batch, 256, CPU, ScalarType.Float32);
    }

    [IterationSetup]
    public void Prefill()
    {
        foreach (int s in _cache.Running.ToArray()) _cache.Remove(s);
        var random = new Random(1);
        _sequences = new int[Batch];
        _next = new long[Batch];
        using var scope = NewDisposeScope();
        for (int b = 0; b < Batch; b++)
        {
            long[] prompt = Enumerable.Range(0, 40 + b * 2).Select(_ => (long)random.Next(256)).ToArray();
            _sequences[b] = _cache.Add(prompt.Length);
            KvStep step = _cache.Prepare([_sequences[b]], prompt.Length, CPU);
            _next[b] = _model.Forward(tensor(prompt, [1, prompt.Length]), _cache, step, _attention).argmax(-1).item<long>();
        }
    }

    [Benchmark]
    public long DecodeStep()
    {
        using var scope = NewDisposeScope();
        foreach (int s in _sequences) _cache.Append(s);
        KvStep step = _cache.Prepare(_sequences, 1, CPU);
        Tensor logits = _model.Forward(tensor(_next, [Batch, 1]), _cache, step, _attention);
        _next = logits.argmax(-1).data<long>().ToArray();
        return _next[0];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _model.Dispose();
    }

    private static string FixtureDir([CallerFilePath] string source = "")
    {
        foreach (string? start in new[] { Path.GetDirectoryName(source), Directory.GetCurrentDirectory() })
            for (string? dir = start; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
                if (File.Exists(Path.Combine(dir, "fixtures", "tiny-llama", "meta", "params.json")))
                    return Path.Combine(dir, "fixtures", "tiny-llama", "meta");
        throw new InvalidOperationException("fixtures/tiny-llama/meta not found.");
    }
}
