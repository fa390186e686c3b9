using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// Whole-prompt prefill shares a pass among equal-length prompts up to <see cref="GenerationOptions.MaxPrefillTokens"/>
/// tokens, and ragged prefill among prompts of any length: splitting and packing change the passes, never the ids.
/// </summary>
public class PrefillChunkingTests
{
    [Theory]
    [InlineData(8192)] // every equal-length group in one pass
    [InlineData(20)]   // two prompts of 9 tokens per pass
    [InlineData(1)]    // one prompt per pass, however short
    public void Ids_do_not_depend_on_how_prompts_are_split_into_passes(int maxPrefillTokens)
    {
        Llama3 model = TinyLlama.Model("meta");
        var random = new Random(11);
        int[][] prompts = [.. Enumerable.Range(0, 7).Select(i => Enumerable.Range(0, i < 5 ? 9 : 4).Select(_ => random.Next(256)).ToArray())];
        GenerationRequest[] requests = [.. prompts.Select(p => new GenerationRequest(p, 6))];
        var passes = new List<GenerationStep>();

        IReadOnlyList<GenerationResult> Run(int limit, List<GenerationStep>? log)
        {
            using var cache = new PagedKvCache(model.Config, new KvCacheOptions(64, 4, 256), CPU, model.DType);
            var generator = new BatchGenerator(model, cache, new ReferenceAttention());
            if (log is not null) generator.StepCompleted = log.Add;
            return generator.Generate(requests, new GenerationOptions(MaxPrefillTokens: limit));
        }

        IReadOnlyList<GenerationResult> whole = Run(8192, null), split = Run(maxPrefillTokens, passes);

        for (int i = 0; i < requests.Length; i++) Assert.Equal(whole[i].Tokens, split[i].Tokens);
        int[] prefillBatches = [.. passes.Where(p => p.IsPrefill).Select(p => p.BatchSize)];
        int[] expected = maxPrefillTokens switch { 8192 => [5, 2], 20 => [2, 2, 1, 2], _ => [1, 1, 1, 1, 1, 1, 1] };
        Assert.Equal(expected, prefillBatches);
        Assert.All(passes.Where(p => p.IsPrefill), p => Assert.True(p.BatchSize == 1 || p.BatchSize * p.QueryLength <= maxPrefillTokens));
    }

    [Theory]
    [InlineData(8192, new[] { 7 })]       // every prompt in one pass: two lengths, two attention calls a layer
    [InlineData(20, new[] { 2, 2, 3 })]   // parts of 18, 18, 9 and 8 tokens: the last two share a pass (17 ≤ 20)
    [InlineData(1, new[] { 1, 1, 1, 1, 1, 1, 1 })] // one prompt a pass, however short
    public void Ragged_passes_give_the_ids_of_passes_by_length(int maxPrefillTokens, int[] expectedBatches)
    {
        Llama3 model = TinyLlama.Model("meta");
        var random = new Random(11);
        int[][] prompts = [.. Enumerable.Range(0, 7).Select(i => Enumerable.Range(0, i < 5 ? 9 : 4).Select(_ => random.Next(256)).ToArray())];
        GenerationRequest[] requests = [.. prompts.Select(p => new GenerationRequest(p, 6))];

        IReadOnlyList<GenerationResult> Run(PrefillMode mode, IKvCache cache, List<GenerationStep>? log)
        {
            var generator = new BatchGenerator(model, cache, new ReferenceAttention());
            if (log is not null) generator.StepCompleted = log.Add;
            return generator.Generate(requests, new GenerationOptions(Prefill: mode, MaxPrefillTokens: maxPrefillTokens));
        }

        using var byLengthCache = new PagedKvCache(model.Config, new KvCacheOptions(64, 4, 256), CPU, model.DType);
        using var raggedCache = new PagedKvCache(model.Config, new KvCacheOptions(64, 4, 256), CPU, model.DType);
        using var naiveCache = new NaiveKvCache(model.Config, 8, 256, CPU, model.DType);
        var passes = new List<GenerationStep>();
        IReadOnlyList<GenerationResult> byLength = Run(PrefillMode.Whole, byLengthCache, null);
        IReadOnlyList<GenerationResult> ragged = Run(PrefillMode.Ragged, raggedCache, passes);
        IReadOnlyList<GenerationResult> raggedNaive = Run(PrefillMode.Ragged, naiveCache, null);

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(byLength[i].Tokens, ragged[i].Tokens);
            Assert.Equal(byLength[i].Tokens, raggedNaive[i].Tokens);
        }
        Assert.Equal(expectedBatches, passes.Where(p => p.IsPrefill).Select(p => p.BatchSize));
    }
}
