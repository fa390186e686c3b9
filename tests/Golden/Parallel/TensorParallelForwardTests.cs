using PagedSim.Golden.Tests.Model;
using PagedSim.Model;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Model.Parallel;
using PagedSim.Model.Synthetic;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Parallel;

/// <summary>
/// The sharded forward pass (ranks as threads, the in-process all-reduce standing in for NCCL) against the unsharded
/// one on the tiny checkpoints: float32, identical greedy ids, logits within 1e-6 of the largest logit (the split o
/// and down sums round differently: 2.2e-5 absolute at logits up to 32.7, about six float32 ulps), both caches and every layout.
/// The tiny model has 2 KV heads, so TP = 2 is the largest degree it allows (TP = 4 is refused).
/// </summary>
public class TensorParallelForwardTests(ITestOutputHelper output)
{
    /// <summary>Relative to the largest |logit|: a few float32 ulps.</summary>
    private const double RelativeTolerance = 1e-6;

    [Theory]
    [InlineData("meta", "paged", 16)]
    [InlineData("meta-2shard", "paged", 5)]
    [InlineData("hf", "paged", 7)]
    [InlineData("hf", "naive", 0)]
    public void TwoRanksGiveTheUnshardedIdsAndLogits(string layout, string cacheKind, int blockSize)
    {
        Llama3 single = TinyLlama.Model(layout);
        using Llama3 sharded = TensorParallel.Load(TinyLlama.Dir(layout), [CPU, CPU], ScalarType.Float32, new InProcessCollective(2), maxPositions: 512);
        TinyLlamaReference r = TinyLlama.Expected;
        var requests = r.Prompts.Select((p, i) => new GenerationRequest(p, r.Generated[i].Length)).ToArray();

        IReadOnlyList<GenerationResult> expected = Run(single, cacheKind, blockSize, requests);
        IReadOnlyList<GenerationResult> actual = Run(sharded, cacheKind, blockSize, requests);

        double worst = 0, firstPass = 0, scale = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            firstPass = Math.Max(firstPass, HuggingFaceReferenceTests.MaxAbsDiff([expected[i].Logits![0]], [actual[i].Logits![0]]));
            scale = Math.Max(scale, expected[i].Logits!.Max(row => row.Max(Math.Abs)));
            Assert.Equal(expected[i].Tokens, actual[i].Tokens);
            Assert.Equal(r.Generated[i], actual[i].Tokens); // and Hugging Face's
            worst = Math.Max(worst, HuggingFaceReferenceTests.MaxAbsDiff(expected[i].Logits!, actual[i].Logits!));
        }
        output.WriteLine($"{layout}/{cacheKind}: max |logit(TP 2) - logit(TP 1)| = {worst:E2} (prefill pass {firstPass:E2}; max |logit| {scale:F2})");
        Assert.True(worst <= RelativeTolerance * scale, $"max |logit(TP 2) - logit(TP 1)| = {worst:E3} exceeds {RelativeTolerance} × {scale:F2}");
    }

    [Fact]
    public void SyntheticShardsAreSlicesOfTheSameModel()
    {
        Llama3Config shape = SyntheticShapes.Tiny; // 4 query, 2 KV heads; Llama 3's vocabulary
        using var single = new Llama3(shape, SyntheticWeights.Create(shape, CPU, ScalarType.Float32, seed: 7), CPU, ScalarType.Float32, 256);
        using Llama3 sharded = TensorParallel.Synthetic(shape, 7, [CPU, CPU], ScalarType.Float32, new InProcessCollective(2), 256);
        var requests = new[] { new GenerationRequest([1, 2, 3, 4, 5], 6), new GenerationRequest([9, 8, 7], 6) };

        IReadOnlyList<GenerationResult> expected = Run(single, "paged", 4, requests);
        IReadOnlyList<GenerationResult> actual = Run(sharded, "paged", 4, requests);

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(expected[i].Tokens, actual[i].Tokens);
            double scale = expected[i].Logits!.Max(row => row.Max(Math.Abs));
            Assert.True(HuggingFaceReferenceTests.MaxAbsDiff(expected[i].Logits!, actual[i].Logits!) <= RelativeTolerance * scale);
        }
    }

    [Fact]
    public void EachRankHoldsItsHeadsOfEveryBlock()
    {
        using Llama3 sharded = TensorParallel.Load(TinyLlama.Dir("meta"), [CPU, CPU], ScalarType.Float32, new InProcessCollective(2), 512);
        using var cache = (ShardedKvCache)sharded.NewPagedCache(new PagedSim.Allocator.KvCacheOptions(10, 4, 64));
        Llama3Config full = sharded.Parallel!.Plan.Config;
        for (int rank = 0; rank < 2; rank++)
            Assert.Equal([10L, 4, full.KvHeads / 2, full.HeadDim], cache.Rank(rank).Keys(0).shape);
        int a = cache.Add(6);
        Assert.Same(cache.Manager, ((PagedKvCache)cache.Rank(1)).Manager); // one manager decides for every rank
        Assert.Equal(6, cache.Rank(1).Length(a));
    }

    [Theory]
    [InlineData(4, "does not divide the model's 2 KV heads")]
    [InlineData(3, "does not divide the model's 2 KV heads")]
    public void RefusesDegreesTheKvHeadsDoNotAllow(int tp, string why)
    {
        var e = Assert.Throws<PagedSim.Model.Checkpoints.CheckpointException>(() =>
            TensorParallel.Load(TinyLlama.Dir("meta"), [.. Enumerable.Repeat(CPU, tp)], ScalarType.Float32, new InProcessCollective(tp)).Dispose());
        Assert.Contains(why, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static IReadOnlyList<GenerationResult> Run(Llama3 model, string cacheKind, int blockSize, GenerationRequest[] requests)
    {
        int longest = requests.Max(q => q.Prompt.Count + q.MaxNewTokens);
        using IKvCache cache = cacheKind == "paged"
            ? model.NewPagedCache(new PagedSim.Allocator.KvCacheOptions(requests.Length * ((longest + blockSize - 1) / blockSize), blockSize, longest))
            : model.NewNaiveCache(requests.Length, longest);
        return new BatchGenerator(model, cache, new PagedSim.Model.Attention.ReferenceAttention())
            .Generate(requests, new GenerationOptions(null, PrefillMode.Whole, RecordLogits: true));
    }
}
