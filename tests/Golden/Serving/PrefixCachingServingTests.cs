using PagedSim.Allocator;
using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;
using PagedSim.Golden.Tests.Model;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Serving;

/// <summary>
/// Prefix caching on the tiny model (CPU, float32) over real multi-turn requests (the committed multi-turn trace's
/// short conversations, ids folded into the tiny vocabulary as serve-trace does): the cached blocks' K/V are reused,
/// not recomputed (prefill covers only the uncached tokens), the outputs are the ids of the same run without caching,
/// and the measured cached tokens, steps, preemptions and peak blocks equal the simulator's prediction.
/// </summary>
public sealed class PrefixCachingServingTests
{
    private const int MaxLength = 512;

    private static Llama3 Model => TinyLlama.Model("meta");

    /// <summary>Every turn of the conversations whose turns all stay under 300 tokens (3 conversations, 7 turns), in
    /// the trace's order.</summary>
    internal static TraceRequest[] ShortConversations(int vocab)
    {
        Trace trace = TraceFile.Read(Fixtures.Path("sharegpt-multiturn.trace.json"), 8192);
        var keep = trace.Requests.GroupBy(r => r.Conversation)
            .Where(g => g.Count() >= 2 && g.Max(r => r.TotalTokens) < 300).Select(g => g.Key).ToHashSet();
        return trace.Requests.Where(r => keep.Contains(r.Conversation))
            // Outputs capped at 8 tokens keep the CPU run short; generated tokens are never cached, so nothing is lost.
            .Select(r => r with { PromptIds = r.PromptIds!.Select(id => id % vocab).ToArray(), OutputTokens = Math.Min(r.OutputTokens, 8) }).ToArray();
    }

    private static (ContinuousRun Run, ContinuousPrediction Prediction) Serve(TraceRequest[] requests, int blocks, bool caching)
    {
        const int blockSize = 16;
        var options = new SchedulerOptions(MaxRunning: 256, MaxTokensPerStep: 8192);
        using var cache = new PagedKvCache(Model.Config, new KvCacheOptions(blocks, blockSize, MaxLength, PrefixCaching: caching), Model.Device, Model.DType);
        int[] after = TraceArrivals.Predecessors(requests, 0);
        var serve = requests.Select(r => new GenerationRequest(r.PromptIds!, r.OutputTokens)).ToArray();
        ContinuousRun run = new ContinuousBatchGenerator(Model, cache, new ReferenceAttention(), options).Generate(serve, null, after, 0);
        Assert.Equal(0, cache.Manager.UsedBlocks);
        Assert.Equal(blocks, cache.Manager.FreeBlocks);
        var prediction = ContinuousPrediction.Simulate(Model.Config, 4, blocks, blockSize, MaxLength, options, requests, caching, 0);
        return (run, prediction);
    }

    [Theory]
    [InlineData(200)] // roomy: nothing evicted
    [InlineData(20)]  // tight: cached blocks evicted, requests preempted and recomputed
    public void CachedBlocksAreReusedOutputsUnchangedAndTheSimulatorPredictsTheRun(int blocks)
    {
        TraceRequest[] requests = ShortConversations(Model.Config.VocabSize);
        Assert.True(requests.Length >= 6, $"{requests.Length} short turns");

        (ContinuousRun cached, ContinuousPrediction predicted) = Serve(requests, blocks, caching: true);
        (ContinuousRun plain, ContinuousPrediction plainPrediction) = Serve(requests, blocks, caching: false);

        Assert.True(cached.CachedTokens > 0, "later turns should find their history cached");
        Assert.Equal(0, cached.CachedTokens % 16);
        Assert.Equal(0, plain.CachedTokens);
        Assert.Equal(cached.AdmittedTokens - cached.CachedTokens, cached.PrefillTokens); // cached K/V not recomputed
        Assert.Equal(plain.AdmittedTokens, plain.PrefillTokens);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(plain.Results[i].Tokens, cached.Results[i].Tokens);

        PrefixCacheStats stats = predicted.Simulation.PrefixCache!;
        Assert.Equal(stats.CachedTokens, cached.CachedTokens);
        Assert.Equal(stats.PromptTokens, cached.AdmittedTokens);
        Assert.Equal(predicted.Steps, cached.Steps);
        Assert.Equal(predicted.Preemptions, cached.Preemptions);
        Assert.Equal(predicted.PeakBlocks, cached.PeakBlocks);
        Assert.Equal(plainPrediction.Steps, plain.Steps);
        Assert.Equal(plainPrediction.Preemptions, plain.Preemptions);
        int[] after = TraceArrivals.Predecessors(requests, 0);
        for (int i = 0; i < requests.Length; i++)
            if (after[i] >= 0) Assert.True(cached.Results[i].AdmittedStep > cached.Results[after[i]].FinishedStep, $"turn {requests[i].Id} started before its previous turn finished");
        if (blocks == 20) Assert.True(cached.Preemptions > 0, "the tight pool should preempt");
    }
}
