using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;
using PagedSim.Golden.Tests.Model;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;

namespace PagedSim.Golden.Tests.Serving;

/// <summary>
/// The scheduler-driven generation loop on the tiny model (CPU): outputs equal what each request produces alone
/// (BatchGenerator, one request, a cache that holds it whole), preempted or not; no request is lost or starves; the run's
/// steps, preemptions and peak blocks are the simulator's for the same lengths.
/// </summary>
public sealed class ContinuousBatchingTests
{
    private static Llama3 Model => TinyLlama.Model("meta");

    private static GenerationRequest[] RandomRequests(int seed, int count, int maxPrompt, int maxNew)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => new GenerationRequest(
            Enumerable.Range(0, random.Next(1, maxPrompt + 1)).Select(_ => random.Next(256)).ToArray(), random.Next(1, maxNew + 1))).ToArray();
    }

    private static ContinuousRun Serve(IReadOnlyList<GenerationRequest> requests, int blockSize, int blocks, SamplingOptions? sampling = null,
        SchedulerOptions? options = null)
    {
        using var cache = (PagedKvCache)TinyLlama.PagedCache(Model, blockSize, blocks);
        ContinuousRun run = new ContinuousBatchGenerator(Model, cache, new ReferenceAttention(), options).Generate(requests, sampling);
        Assert.Equal(0, cache.Manager.UsedBlocks); // every block back in the pool
        return run;
    }

    private static GenerationResult Alone(GenerationRequest request, int blockSize)
    {
        using IKvCache cache = TinyLlama.PagedCache(Model, blockSize);
        return new BatchGenerator(Model, cache, new ReferenceAttention()).Generate([request])[0];
    }

    [Theory]
    [InlineData(1, 4, 16)]
    [InlineData(2, 3, 20)]
    [InlineData(3, 7, 9)]
    public void GreedyOutputEqualsRunningAlonePreemptedOrNot(int seed, int blockSize, int blocks)
    {
        GenerationRequest[] requests = RandomRequests(seed, 7, 24, 24);
        // A stop token for one request (taken from its lone output) exercises Finish before the max length.
        GenerationResult probe = Alone(requests[2], blockSize);
        if (probe.Tokens.Count > 3) requests[2] = requests[2] with { StopTokens = new HashSet<int> { probe.Tokens[3] } };

        ContinuousRun run = Serve(requests, blockSize, blocks);

        Assert.True(run.Preemptions > 0, $"the pool of {blocks} blocks should force preemption");
        for (int i = 0; i < requests.Length; i++)
        {
            GenerationResult alone = Alone(requests[i], blockSize);
            Assert.Equal(alone.Tokens, run.Results[i].Tokens);
            Assert.Equal(alone.Reason, run.Results[i].Reason);
            Assert.Equal(alone.StopToken, run.Results[i].StopToken);
        }
        Assert.Equal(FinishReason.Stop, run.Results[2].Reason);
    }

    [Fact]
    public void SampledOutputIsTheSameWhetherPreemptedOrNot()
    {
        GenerationRequest[] requests = RandomRequests(5, 6, 20, 24);
        var sampling = new SamplingOptions(0.9, 0.9, Seed: 11);

        ContinuousRun tight = Serve(requests, 4, 14, sampling);
        ContinuousRun roomy = Serve(requests, 4, 200, sampling);

        Assert.True(tight.Preemptions > 0);
        Assert.Equal(0, roomy.Preemptions);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(roomy.Results[i].Tokens, tight.Results[i].Tokens);
    }

    [Fact]
    public void HandDerivedPreemptionTimeline()
    {
        // Two requests of 4 prompt + 8 new tokens, blocks of 4, a pool of 4 (watermark 0). Step 1 admits both (each holds
        // 5 tokens: 2 blocks). At step 5 request 0 reaches 9 tokens and needs a third block: none is free, so the newest
        // (request 1, 4 tokens generated) is preempted. Request 0 ends at step 8; step 9 recomputes request 1 (8 tokens +
        // the new one: 3 blocks), which ends at step 12. Peak 4 blocks.
        var random = new Random(3);
        GenerationRequest[] requests = Enumerable.Range(0, 2)
            .Select(_ => new GenerationRequest(Enumerable.Range(0, 4).Select(_ => random.Next(256)).ToArray(), 8)).ToArray();

        ContinuousRun run = Serve(requests, 4, 4);

        Assert.Equal(12, run.Steps);
        Assert.Equal(1, run.Preemptions);
        Assert.Equal(4, run.PeakBlocks);
        Assert.Equal([0, 1], run.Results.Select(r => r.Preemptions));
        Assert.Equal(12, run.Results[1].FinishedStep);
        Assert.Equal(8, run.Results[0].FinishedStep);
        for (int i = 0; i < 2; i++) Assert.Equal(Alone(requests[i], 4).Tokens, run.Results[i].Tokens);
    }

    [Fact]
    public void NoRequestIsLostOrStarves()
    {
        GenerationRequest[] requests = RandomRequests(9, 24, 12, 16);

        ContinuousRun run = Serve(requests, 2, 24, options: new SchedulerOptions(MaxRunning: 6));

        Assert.True(run.Preemptions > 0);
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(requests[i].MaxNewTokens, run.Results[i].ProducedTokens);
            Assert.True(run.Results[i].FinishedStep >= run.Results[i].AdmittedStep);
        }
        // First come, first served: first admissions follow arrival order, so no request is passed over for ever.
        long[] admitted = run.Results.Select(r => r.AdmittedStep).ToArray();
        Assert.Equal(admitted.Order(), admitted);
        Assert.All(run.Timeline, p => Assert.True(p.Running <= 6 && p.UsedBlocks <= 24));
        Assert.Equal(0, run.Timeline[^1].Waiting);
    }

    [Theory]
    [InlineData(4, 4, 0.0)]
    [InlineData(13, 5, 0.0)]
    [InlineData(30, 4, 0.1)]
    public void StepsPreemptionsAndPeakBlocksAreTheSimulatorsPrediction(int seed, int blockSize, double watermark)
    {
        GenerationRequest[] requests = RandomRequests(seed, 12, 30, 30);
        int blocks = 22;
        var options = new SchedulerOptions(WatermarkFraction: watermark);

        ContinuousRun run = Serve(requests, blockSize, blocks, options: options);
        var lengths = requests.Select((r, i) => new TraceRequest($"r{i}", r.Prompt.Count, r.MaxNewTokens)).ToArray();
        ContinuousPrediction predicted = ContinuousPrediction.Simulate(Model.Config, 4, blocks, blockSize, 256, options, lengths);

        Assert.True(run.Preemptions > 0);
        Assert.Equal(predicted.Steps, run.Steps);
        Assert.Equal(predicted.Preemptions, run.Preemptions);
        Assert.Equal(predicted.PeakBlocks, run.PeakBlocks);
        Assert.Equal(blocks, predicted.Simulation.CapacityUnits);
        Assert.Equal(requests.Length, predicted.Simulation.Completed);
        // The simulator's event timeline agrees with the run at every step it recorded.
        var byStep = run.Timeline.ToDictionary(p => p.Step);
        foreach (TimelinePoint p in predicted.Simulation.Timeline)
        {
            Assert.Equal(p.Units, byStep[p.Step].UsedBlocks);
            Assert.Equal(p.Waiting, byStep[p.Step].Waiting);
            Assert.Equal(p.Running, byStep[p.Step].Running);
        }
    }

    [Fact]
    public void StaticBaselineRunsWavesThatFitAndProducesTheSameOutputs()
    {
        // Four requests of 6 + 6 tokens need 3 blocks of 4 each at full length; a pool of 7 holds two at a time: 2 waves.
        var random = new Random(12);
        GenerationRequest[] requests = Enumerable.Range(0, 4)
            .Select(_ => new GenerationRequest(Enumerable.Range(0, 6).Select(_ => random.Next(256)).ToArray(), 6)).ToArray();

        ContinuousStaticBaseline baseline;
        using (var cache = (PagedKvCache)TinyLlama.PagedCache(Model, 4, 7))
            baseline = ContinuousStaticBaseline.Run(Model, cache, new ReferenceAttention(), requests, maxRunning: 256);
        ContinuousRun run = Serve(requests, 4, 7);

        Assert.Equal(2, baseline.Waves);
        Assert.Equal(24, baseline.GeneratedTokens);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(run.Results[i].Tokens, baseline.Results[i].Tokens);
    }
}
