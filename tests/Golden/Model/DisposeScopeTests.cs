using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// Generation creates every tensor inside a dispose scope: a tensor outside one is freed by the finalizer, whose thread
/// may run while libtorch still reads the tensor (the same hazard as <see cref="Scalars"/>), and holds its memory until
/// a collection comes. Counted with TorchSharp's own per-thread statistics.
/// </summary>
public sealed class DisposeScopeTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(PrefillMode.Whole, false)]
    [InlineData(PrefillMode.Ragged, false)]
    [InlineData(PrefillMode.TokenByToken, false)]
    [InlineData(PrefillMode.Whole, true)]
    public void Generation_creates_no_tensor_outside_a_dispose_scope(PrefillMode prefill, bool sample)
    {
        Llama3 model = TinyLlama.Model("meta");
        using IKvCache cache = TinyLlama.PagedCache(model, 4);
        var random = new Random(3);
        GenerationRequest[] requests = [.. Enumerable.Range(0, 5).Select(i => new GenerationRequest(
            Enumerable.Range(0, 3 + 4 * i).Select(_ => random.Next(256)).ToArray(), 6))];
        var generator = new BatchGenerator(model, cache, new ReferenceAttention());

        DisposeScopeManager.Statistics.Reset();
        generator.Generate(requests, new GenerationOptions(sample ? new SamplingOptions(0.8, 0.9, Seed: 1) : null, prefill));
        ThreadDisposeScopeStatistics stats = DisposeScopeManager.Statistics;

        output.WriteLine(stats.ToString());
        Assert.Equal(0, stats.CreatedOutsideScopeCount);
    }

    [Fact]
    public void Continuous_batching_and_parallel_sampling_create_no_tensor_outside_a_dispose_scope()
    {
        Llama3 model = TinyLlama.Model("meta");
        var random = new Random(4);
        GenerationRequest[] requests = [.. Enumerable.Range(0, 6).Select(i => new GenerationRequest(
            Enumerable.Range(0, 2 + 5 * i).Select(_ => random.Next(256)).ToArray(), 5))];
        using var cache = (PagedKvCache)TinyLlama.PagedCache(model, 4, 24); // tight: some requests wait or are preempted

        DisposeScopeManager.Statistics.Reset();
        new ContinuousBatchGenerator(model, cache, new ReferenceAttention()).Generate(requests, new SamplingOptions(0.8, 0.9, Seed: 2));
        new ParallelSampler(model, cache, new ReferenceAttention()).Generate(requests[..3], 3, new SamplingOptions(0.8, 0.9, Seed: 2));
        ThreadDisposeScopeStatistics stats = DisposeScopeManager.Statistics;

        output.WriteLine(stats.ToString());
        Assert.Equal(0, stats.CreatedOutsideScopeCount);
    }
}
