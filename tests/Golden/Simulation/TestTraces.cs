using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>Traces and setups shared by the simulation tests.</summary>
internal static class TestTraces
{
    public static Trace ShareGpt { get; } = TraceFile.Read(Fixtures.Path("sharegpt-llama3.trace.json"), 8192);

    /// <summary>The seed's setup: RTX 4090, Llama 3 8B bf16, block 256, the seed's pool and policy.</summary>
    public static SimulationConfig Seed { get; } = new(
        new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.Rtx4090, "bf16", 1, OverheadModel.Default), 256, SimulationMode.Static, SeedCompatible: true);

    /// <summary>Random small requests (lengths 1..maxPrompt and 1..maxOutput).</summary>
    public static TraceRequest[] Random(int count, int seed, int maxPrompt = 40, int maxOutput = 60)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(i => new TraceRequest($"r{i}", random.Next(1, maxPrompt + 1), random.Next(1, maxOutput + 1)))
            .ToArray();
    }
}
