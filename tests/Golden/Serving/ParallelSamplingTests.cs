using PagedSim.Allocator;
using PagedSim.Golden.Tests.Model;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;

namespace PagedSim.Golden.Tests.Serving;

/// <summary>
/// Parallel sampling with shared prompt blocks on the tiny model (CPU): forked samples equal independently run samples
/// token for token (the copy-on-write of the partial prompt block carries the K/V data), and the blocks saved are the
/// hand-derived (K − 1) shared prompt blocks per prompt, measured and predicted.
/// </summary>
public sealed class ParallelSamplingTests
{
    private static Llama3 Model => TinyLlama.Model("meta");

    private static ParallelSamplingRun Sample(IReadOnlyList<GenerationRequest> prompts, int samples, SamplingOptions sampling, bool share,
        int blockSize, int blocks = 400)
    {
        using var cache = (PagedKvCache)TinyLlama.PagedCache(Model, blockSize, blocks);
        ParallelSamplingRun run = new ParallelSampler(Model, cache, new ReferenceAttention()).Generate(prompts, samples, sampling, share);
        Assert.Equal(0, cache.Manager.UsedBlocks);
        return run;
    }

    private static GenerationRequest[] Prompts(int seed, params (int Prompt, int MaxNew)[] lengths)
    {
        var random = new Random(seed);
        return lengths.Select(l => new GenerationRequest(Enumerable.Range(0, l.Prompt).Select(_ => random.Next(256)).ToArray(), l.MaxNew)).ToArray();
    }

    [Theory]
    [InlineData(4, 3, 0.9, 0.9)]
    [InlineData(5, 4, 1.2, 1.0)]
    [InlineData(16, 2, 0.7, 0.8)]
    public void ForkedSamplesEqualIndependentlyRunSamples(int blockSize, int k, double temperature, double topP)
    {
        GenerationRequest[] prompts = Prompts(blockSize, (5, 12), (9, 10), (13, 14), (16, 6));
        var sampling = new SamplingOptions(temperature, topP, Seed: 42);

        ParallelSamplingRun forked = Sample(prompts, k, sampling, share: true, blockSize);
        // The independent reference: K copies of every prompt as separate requests of BatchGenerator (request g·K + j
        // draws from the stream of sample j of prompt g).
        GenerationRequest[] copies = prompts.SelectMany(p => Enumerable.Repeat(p, k)).ToArray();
        IReadOnlyList<GenerationResult> independent;
        using (IKvCache cache = TinyLlama.PagedCache(Model, blockSize, 400))
            independent = new BatchGenerator(Model, cache, new ReferenceAttention()).Generate(copies, new GenerationOptions(sampling));

        Assert.True(forked.CopiedBlocks > 0);
        for (int g = 0; g < prompts.Length; g++)
            for (int j = 0; j < k; j++)
                Assert.Equal(independent[g * k + j].Tokens, forked.Samples[g][j].Tokens);
        // Samples of one prompt do differ (the test is not about identical streams).
        Assert.Contains(forked.Samples, group => group.Select(s => string.Join(",", s.Tokens)).Distinct().Count() > 1);
    }

    [Fact]
    public void SharedAndIndependentModesProduceTheSameSamples()
    {
        GenerationRequest[] prompts = Prompts(1, (7, 9), (3, 11));
        var sampling = new SamplingOptions(1.0, 0.95, Seed: 3);

        ParallelSamplingRun forked = Sample(prompts, 3, sampling, share: true, blockSize: 4);
        ParallelSamplingRun independent = Sample(prompts, 3, sampling, share: false, blockSize: 4);

        for (int g = 0; g < prompts.Length; g++)
            for (int j = 0; j < 3; j++) Assert.Equal(independent.Samples[g][j].Tokens, forked.Samples[g][j].Tokens);
    }

    [Fact]
    public void BlocksSavedAreTheSharedPromptBlocks_HandDerived()
    {
        // One prompt of 10 tokens, blocks of 4, K = 3, 5 new tokens. Shared: the prompt's 3 blocks (4 + 4 + 2) once; at
        // step 2 two samples copy the partial block (5 blocks); at step 4 each sample needs a fourth block (8).
        // Independent: 3 × 3 = 9 blocks, then 3 × 4 = 12 at step 4. Saved at peak: 4 = (K − 1) · floor(10 / 4).
        GenerationRequest[] prompts = Prompts(2, (10, 5));
        var sampling = new SamplingOptions(0.8, 1.0, Seed: 1);

        ParallelSamplingRun forked = Sample(prompts, 3, sampling, share: true, blockSize: 4);
        ParallelSamplingRun independent = Sample(prompts, 3, sampling, share: false, blockSize: 4);
        var options = new KvCacheOptions(400, 4, 256);
        ParallelSamplingPrediction predictedForked = ParallelSamplingPrediction.Simulate(options, 3, true, [(10, 5)]);
        ParallelSamplingPrediction predictedIndependent = ParallelSamplingPrediction.Simulate(options, 3, false, [(10, 5)]);

        Assert.Equal([3, 5, 5, 8, 8], forked.BlocksPerStep);
        Assert.Equal([9, 9, 9, 12, 12], independent.BlocksPerStep);
        Assert.Equal(2, forked.CopiedBlocks);
        Assert.Equal(forked.BlocksPerStep, predictedForked.BlocksPerStep);
        Assert.Equal(independent.BlocksPerStep, predictedIndependent.BlocksPerStep);
        Assert.Equal(2, predictedForked.CopiedBlocks);
        Assert.Equal(4, independent.PeakBlocks - forked.PeakBlocks);
    }

    [Fact]
    public void GroupsWaitForRoomAndPredictionMatchesTheRun()
    {
        // A pool too small for all prompts at once: groups are admitted as earlier ones finish.
        GenerationRequest[] prompts = Prompts(8, (9, 6), (14, 9), (5, 12), (21, 4), (11, 8));
        int worst = prompts.Max(p => ForkedGroups.WorstCaseBlocks(p.Prompt.Count, p.MaxNewTokens, 3, 4, share: true));
        var sampling = new SamplingOptions(0.9, 1.0, Seed: 5);

        ParallelSamplingRun forked = Sample(prompts, 3, sampling, share: true, blockSize: 4, blocks: worst + 4);
        ParallelSamplingPrediction predicted = ParallelSamplingPrediction.Simulate(new KvCacheOptions(worst + 4, 4, 256), 3, true,
            prompts.Select(p => (p.Prompt.Count, p.MaxNewTokens)).ToArray());

        Assert.Equal(predicted.BlocksPerStep, forked.BlocksPerStep);
        Assert.Equal(predicted.CopiedBlocks, forked.CopiedBlocks);
        Assert.True(forked.Steps > prompts.Max(p => p.MaxNewTokens), "some groups should have waited");
        Assert.All(forked.Samples.SelectMany(g => g).Zip(prompts.SelectMany(p => Enumerable.Repeat(p, 3))),
            x => Assert.Equal(x.Second.MaxNewTokens, x.First.Tokens.Count));
    }
}
