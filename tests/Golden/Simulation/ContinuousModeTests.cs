using PagedSim.Allocator;
using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

public class ContinuousModeTests
{
    private static SimulationConfig Config(long kvBytes) =>
        new(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.OfSize(16_060_522_496 + OverheadModel.Default.Bytes(ModelSpec.Llama3_8B, 2, 1, 8192, 256) + kvBytes, "test"),
            "bf16", 1, OverheadModel.Default), 16, SimulationMode.Continuous);

    [Fact]
    public void Every_request_completes_within_the_pool_and_a_tight_budget_preempts()
    {
        // 2,000 synthetic ShareGPT-like requests on 1.5 GB of KV cache (about 700 blocks of 16 tokens).
        Trace trace = SyntheticTrace.Draw(TestTraces.ShareGpt, 2000, seed: 7);
        RunResult run = Simulator.RunPaged(Config(1_500_000_000), trace.Requests, keepTimeline: true);
        Assert.True(run.Fits);
        Assert.Equal(2000, run.Completed);
        Assert.True(run.Preemptions > 0, "a tight budget must preempt");
        Assert.All(run.Timeline, p => Assert.InRange(p.Units, 0, run.CapacityUnits));
        Assert.True(run.Peak.ReservedBytes <= run.CapacityBytes);
    }

    [Fact]
    public void A_roomy_budget_never_preempts()
    {
        Trace trace = SyntheticTrace.Draw(TestTraces.ShareGpt, 500, seed: 3);
        RunResult run = Simulator.RunPaged(Config(200_000_000_000), trace.Requests);
        Assert.Equal(500, run.Completed);
        Assert.Equal(0, run.Preemptions);
    }

    [Fact]
    public void Naive_continuous_completes_every_request()
    {
        Trace trace = SyntheticTrace.Draw(TestTraces.ShareGpt, 300, seed: 5);
        RunResult run = Simulator.RunNaive(Config(10L << 30), trace.Requests);
        Assert.True(run.Fits);
        Assert.Equal(300, run.Completed);
        Assert.Equal(10, run.CapacityUnits);
    }

    [Fact]
    public void A_request_larger_than_the_pool_is_reported_not_looped()
    {
        var cache = new KvCacheManager(new KvCacheOptions(4, 16));
        var scheduler = new Scheduler(cache, new SchedulerOptions(0, 8, 8192));
        scheduler.Submit(100, 10); // needs 7 blocks
        Assert.Throws<RequestTooLargeException>(() => scheduler.Advance(long.MaxValue));
    }
}
