using PagedSim.Allocator;
using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>The event-driven jump (Scheduler/StaticBatch.Advance over many steps, lazy appends) must give exactly the
/// states of a token-by-token replay of the same allocator, at every step.</summary>
public class EventDrivenEquivalenceTests
{
    public static TheoryData<int, int, int> ContinuousCases => new()
    {
        // seed, blocks, block size
        { 1, 24, 4 }, { 2, 20, 8 }, { 3, 9, 16 }, { 4, 64, 4 }, { 5, 100, 1 }, { 6, 200, 16 }, { 7, 22, 4 },
    };

    [Theory, MemberData(nameof(ContinuousCases))]
    public void Continuous_matches_token_by_token(int seed, int blocks, int blockSize)
    {
        TraceRequest[] requests = TestTraces.Random(40, seed, maxPrompt: 30, maxOutput: 50);
        var options = new SchedulerOptions(WatermarkFraction: 0.05, MaxRunning: 16, MaxTokensPerStep: 8192);
        var reference = TokenByTokenReference.Continuous(requests, new KvCacheManager(new KvCacheOptions(blocks, blockSize)), options, out int refPreemptions);

        var cache = new KvCacheManager(new KvCacheOptions(blocks, blockSize));
        var scheduler = new Scheduler(cache, options);
        foreach (TraceRequest r in requests) scheduler.Submit(r.PromptTokens, r.OutputTokens);
        var events = new List<(StepState State, long Rate)>();
        while (true)
        {
            SchedulerStep s = scheduler.Advance(long.MaxValue);
            if (s.Steps == 0) break;
            events.Add((new StepState(s.Step, cache.UsedBlocks, scheduler.FilledSlots, scheduler.RunningCount, scheduler.WaitingCount), scheduler.GrowthRate));
        }
        AssertSameTimeline(reference, events);
        Assert.Equal(refPreemptions, scheduler.Preemptions);
        Assert.True(scheduler.IsIdle);
    }

    [Theory]
    [InlineData(11, 24, 4)]
    [InlineData(12, 40, 8)]
    public void Runner_style_stepping_matches_and_keeps_the_cache_current(int seed, int blocks, int blockSize)
    {
        // A runner does not know output lengths: it steps once, syncs the block table, and reports stop tokens.
        TraceRequest[] requests = TestTraces.Random(30, seed, maxPrompt: 30, maxOutput: 50);
        var options = new SchedulerOptions(WatermarkFraction: 0.05, MaxRunning: 16, MaxTokensPerStep: 8192);
        var reference = TokenByTokenReference.Continuous(requests, new KvCacheManager(new KvCacheOptions(blocks, blockSize)), options, out int refPreemptions);

        var cache = new KvCacheManager(new KvCacheOptions(blocks, blockSize));
        var scheduler = new Scheduler(cache, options);
        foreach (TraceRequest r in requests) scheduler.Submit(r.PromptTokens, 8192 - r.PromptTokens);
        var states = new List<StepState>();
        while (!scheduler.IsIdle)
        {
            SchedulerStep s = scheduler.Advance(1);
            Assert.Equal(1, s.Steps);
            scheduler.Sync();
            Assert.Equal(scheduler.FilledSlots, cache.FilledSlots);
            foreach (int r in scheduler.RunningRequests)
                Assert.Equal(requests[r].PromptTokens + scheduler.Generated(r), cache.DenseSequenceLengths[cache.RowOf(scheduler.SequenceOf(r))]);
            states.Add(new StepState(s.Step, cache.UsedBlocks, cache.FilledSlots, scheduler.RunningCount, scheduler.WaitingCount));
            foreach (int r in scheduler.RunningRequests.Where(r => scheduler.Generated(r) == requests[r].OutputTokens).ToArray())
                scheduler.Finish(r);
        }
        Assert.Equal(reference, states);
        Assert.Equal(refPreemptions, scheduler.Preemptions);
    }

    [Theory]
    [InlineData(1, 16, 4, false, AllocationPolicy.Default)]
    [InlineData(2, 40, 8, true, AllocationPolicy.Default)]
    [InlineData(3, 40, 8, true, AllocationPolicy.SeedCompatible)]
    [InlineData(4, 25, 4, false, AllocationPolicy.SeedCompatible)]
    [InlineData(5, 500, 16, true, AllocationPolicy.SeedCompatible)]
    public void Static_matches_token_by_token(int seed, int blocks, int blockSize, bool seedTimeline, AllocationPolicy policy)
    {
        TraceRequest[] requests = TestTraces.Random(12, seed);
        KvCacheManager Cache() => new(new KvCacheOptions(blocks, blockSize, 8192, policy, seed));
        var reference = TokenByTokenReference.Static(requests, Cache(), seedTimeline, out long failedStep);

        var cache = Cache();
        var batch = new StaticBatch(cache, requests.Select(r => (r.PromptTokens, r.OutputTokens)).ToArray(), seedTimeline);
        var events = new List<(StepState State, long Rate)>();
        while (true)
        {
            SchedulerStep s = batch.Advance();
            if (s.Steps == 0 || batch.OutOfMemory) break;
            events.Add((new StepState(s.Step, cache.UsedBlocks, batch.FilledSlots, batch.RunningCount, 0), batch.GrowthRate));
        }
        Assert.Equal(failedStep, batch.OutOfMemory ? batch.FailedStep : 0);
        AssertSameTimeline(reference, events);
    }

    [Fact]
    public void Simulator_statistics_match_token_by_token_averages()
    {
        // The ShareGPT trace's first 30 requests on the seed's pool, seed timeline and policy.
        IReadOnlyList<TraceRequest> requests = TestTraces.ShareGpt.Take(30).Requests;
        var reference = TokenByTokenReference.Static(requests,
            new KvCacheManager(new KvCacheOptions(160, 256, 8192, AllocationPolicy.SeedCompatible, 0)), seedTimeline: true, out long failed);
        Assert.Equal(0, failed);
        RunResult run = Simulator.RunPaged(TestTraces.Seed, requests);
        long bytes = 131_072;
        Assert.Equal(reference.Count, run.Steps);
        Assert.Equal(reference.Max(s => s.UsedBlocks) * 256L * bytes, run.Peak.ReservedBytes);
        Assert.Equal(reference.Max(s => s.FilledSlots) * bytes, run.Peak.FilledBytes);
        Assert.Equal(reference.Max(s => s.UsedBlocks * 256L - s.FilledSlots) * bytes, run.Peak.FragmentedBytes);
        Assert.Equal(reference.Average(s => (double)s.UsedBlocks * 256) * bytes, run.Average.ReservedBytes, 1e-6);
        Assert.Equal(reference.Average(s => (double)s.FilledSlots) * bytes, run.Average.FilledBytes, 1e-6);
    }

    /// <summary>Processed steps must equal the reference there; between them the reference may only grow its
    /// filled slots by the recorded growth rate per step.</summary>
    private static void AssertSameTimeline(List<StepState> reference, List<(StepState State, long Rate)> events)
    {
        Assert.Equal(reference.Count, events.Count == 0 ? 0 : events[^1].State.Step);
        int e = -1;
        foreach (StepState expected in reference)
        {
            if (e + 1 < events.Count && events[e + 1].State.Step == expected.Step)
            {
                e++;
                Assert.Equal(expected, events[e].State);
                continue;
            }
            (StepState last, long rate) = events[e];
            Assert.Equal(expected with { FilledSlots = 0 }, last with { Step = expected.Step, FilledSlots = 0 });
            Assert.Equal(last.FilledSlots + rate * (expected.Step - last.Step), expected.FilledSlots);
        }
    }
}
