using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Model.Generation;

/// <summary>
/// The simulator's continuous-mode prediction for a run of <see cref="ContinuousBatchGenerator"/>: the same lengths
/// replayed event by event (<see cref="Simulator.RunPaged"/>) through a pool of exactly the run's block count.
/// </summary>
/// <param name="Steps">Predicted steps until the last request finishes.</param>
/// <param name="Preemptions">Predicted preemptions.</param>
/// <param name="PeakBlocks">Predicted most blocks in use at once.</param>
/// <param name="Simulation">The simulator's full result (timeline and, given a GPU with time figures, predicted time).</param>
/// <param name="StaticWavesSeconds">Predicted seconds of the same requests as static waves at the same memory
/// (<see cref="ContinuousStaticBaseline"/>), or null without time figures.</param>
public sealed record ContinuousPrediction(long Steps, int Preemptions, int PeakBlocks, RunResult Simulation, double? StaticWavesSeconds = null)
{
    /// <summary>
    /// Simulates <paramref name="requests"/> (prompt and output lengths: every request is taken to produce exactly its
    /// output length, as a run without stop tokens does) in continuous mode over <paramref name="blocks"/> blocks.
    /// </summary>
    /// <param name="config">The model (its KV layout sizes the blocks in bytes).</param>
    /// <param name="elementBytes">Bytes per KV element (4 for float32, 2 for bf16/fp16).</param>
    /// <param name="blocks">Blocks in the pool.</param>
    /// <param name="blockSize">Tokens per block.</param>
    /// <param name="maxSequenceLength">The manager's max sequence length.</param>
    /// <param name="options">The scheduler's limits.</param>
    /// <param name="requests">Lengths (and, for prefix caching, prompt ids), in arrival order.</param>
    /// <param name="prefixCaching">Simulate automatic prefix caching.</param>
    /// <param name="thinkSteps">The trace's arrival rule (<see cref="Trace.ThinkSteps"/>): null, all at the start.</param>
    /// <param name="chip">The GPU whose time figures predict the run's time (<see cref="GpuSpec.MatchDevice"/>), or
    /// null for no time.</param>
    public static ContinuousPrediction Simulate(Llama3Config config, int elementBytes, int blocks, int blockSize,
        int maxSequenceLength, SchedulerOptions? options, IReadOnlyList<TraceRequest> requests, bool prefixCaching = false, long? thinkSteps = null,
        GpuSpec? chip = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        string dtype = elementBytes switch
        {
            4 => "fp32",
            2 => "bf16",
            1 => "fp8",
            _ => throw new ArgumentOutOfRangeException(nameof(elementBytes), elementBytes, "Element bytes must be 1, 2 or 4."),
        };
        var spec = new ModelSpec("model", config.Dim, config.Layers, config.Heads, config.KvHeads, config.VocabSize,
            config.HiddenDim, null, config.TiedEmbeddings, maxSequenceLength);
        // The simulator sizes its pool from GPU memory: give it a GPU whose memory beside weights and modelled
        // overhead is exactly the run's pool.
        var probe = new MemoryModel(spec, chip is null ? GpuSpec.OfSize(0, "probe") : chip with { TotalMemoryBytes = 0 }, dtype, 1, OverheadModel.Default);
        var simulation = new SimulationConfig(probe, blockSize, SimulationMode.Continuous, Scheduler: options, PrefixCaching: prefixCaching);
        (long tokensPerStep, long sequences) = Simulator.StepShape(simulation, requests);
        long blockBytes = probe.Layout.BytesPerBlock(blockSize);
        long gpuBytes = probe.WeightBytes + probe.OverheadBytes(tokensPerStep, sequences) + blocks * blockBytes;
        GpuSpec gpu = chip is null ? GpuSpec.OfSize(gpuBytes, $"{blocks} blocks") : chip with { Name = $"{chip.Name}, {blocks} blocks", TotalMemoryBytes = gpuBytes };
        simulation = simulation with { Memory = probe with { Gpu = gpu } };
        RunResult result = Simulator.RunPaged(simulation, requests, keepTimeline: true, thinkSteps, predictTime: chip is not null);
        if (result.CapacityUnits != blocks)
            throw new InvalidOperationException($"The simulated pool has {result.CapacityUnits} blocks, not {blocks}.");
        double? waves = StepTimeModel.For(simulation.Memory) is StepTimeModel time
            ? StaticWaves(time, blocks, blockSize, simulation.SchedulerOptions.MaxRunning, requests)
            : null;
        return new ContinuousPrediction(result.Steps, result.Preemptions, (int)(result.Peak.ReservedBytes / blockBytes), result, waves);
    }

    /// <summary>Predicted seconds of <see cref="ContinuousStaticBaseline"/>'s waves: in arrival order, as many
    /// requests as fit the pool at their full length (and at most <paramref name="maxRunning"/>), each wave a static
    /// batch run to its end.</summary>
    private static double? StaticWaves(StepTimeModel time, int blocks, int blockSize, int maxRunning, IReadOnlyList<TraceRequest> requests)
    {
        double seconds = 0;
        for (int start = 0; start < requests.Count;)
        {
            int end = start, used = 0;
            while (end < requests.Count && end - start < maxRunning)
            {
                int need = (requests[end].TotalTokens + blockSize - 1) / blockSize;
                if (used + need > blocks) break;
                used += need;
                end++;
            }
            if (end == start) return null; // a request alone does not fit: the baseline refuses it too
            seconds += StaticTiming.Run(time, [.. requests.Skip(start).Take(end - start).Select(r => (r.PromptTokens, r.OutputTokens))]).WallSeconds;
            start = end;
        }
        return seconds;
    }
}
