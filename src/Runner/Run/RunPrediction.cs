using PagedSim.Allocator.Simulation;
using PagedSim.Runner.Output;

namespace PagedSim.Runner;

/// <summary>The simulator's prediction for a batch on a GPU: paged and naive static runs and their max batches.</summary>
internal sealed record RunPrediction(MemoryModel Memory, int BlockSize, string TraceSource, bool Repeated, int Count,
    RunResult Paged, RunResult Naive, MaxBatchResult PagedMax, MaxBatchResult NaiveMax)
{
    public static RunPrediction Create(MemoryModel memory, int blockSize, Trace trace, IReadOnlyList<TraceRequest> requests)
    {
        var config = new SimulationConfig(memory, blockSize);
        SimulateCommand.Validate(config);
        RunResult paged = SimulateCommand.Guard(() => Simulator.RunPaged(config, requests)), naive = Simulator.RunNaive(config, requests);
        MaxBatchResult pagedMax = SimulateCommand.Guard(() => MaxBatchSearch.Run(config, trace, paged: true));
        MaxBatchResult naiveMax = MaxBatchSearch.Run(config, trace, paged: false);
        return new RunPrediction(memory, blockSize, trace.Source, requests.Count > trace.Requests.Count, requests.Count, paged, naive, pagedMax, naiveMax);
    }

    public RunResult For(bool naive) => naive ? Naive : Paged;

    /// <summary>Blocks the paged simulation of <paramref name="planned"/> (a static batch) holds at its peak, or null when it does not fit.</summary>
    public static int? PeakBlocks(MemoryModel memory, int blockSize, IReadOnlyList<TraceRequest> planned)
    {
        RunResult r = Simulator.RunPaged(new SimulationConfig(memory, blockSize), planned);
        return r.Fits ? (int)Math.Round(r.Peak.ReservedBytes / memory.Layout.BytesPerBlock(blockSize)) : null;
    }

    public MaxBatchResult MaxFor(bool naive) => naive ? NaiveMax : PagedMax;

    /// <summary>Weights + overhead + peak KV reserved, or null when the simulator says it does not fit.</summary>
    public long? PeakMemory(bool naive) => For(naive).Fits ? ReportText.PeakMemory(For(naive), Memory) : null;

    /// <summary>
    /// Memory the run needs by the simulator's model, fit or not: weights + overhead + the KV the requests need at
    /// once (naive: every request's 8,192-token row; paged: the peak reservation, or every request's blocks to its end
    /// when the simulation ran out of blocks).
    /// </summary>
    public long NeededBytes(bool naive, IReadOnlyList<TraceRequest> planned)
    {
        RunResult r = For(naive);
        if (r.Fits) return ReportText.PeakMemory(r, Memory);
        (long tokens, long sequences) = Simulator.StepShape(new SimulationConfig(Memory, BlockSize), planned);
        long kv = naive
            ? planned.Count * (long)Memory.Model.MaxSequenceLength * Memory.Layout.BytesPerToken
            : planned.Sum(q => (long)((q.TotalTokens + BlockSize - 1) / BlockSize)) * Memory.Layout.BytesPerBlock(BlockSize);
        return Memory.WeightBytes + Memory.OverheadBytes(tokens, sequences) + kv;
    }

    public void Write(TextWriter console)
    {
        console.WriteLine($"Prediction for {Count} request(s) of {TraceSource}{(Repeated ? " (trace repeated)" : "")} on {Memory.Gpu.Name} ({ByteSize.Gb(Memory.Gpu.TotalMemoryBytes)}), {Memory.Model.Name} {Memory.DType}:");
        foreach ((RunResult r, MaxBatchResult max) in new[] { (Paged, PagedMax), (Naive, NaiveMax) })
        {
            console.WriteLine($"  {r.Cache}: {(r.Fits ? $"fits, peak memory needed {ByteSize.Gb(ReportText.PeakMemory(r, Memory))} (KV {ByteSize.Gb((long)r.Peak.ReservedBytes)})" : "does not fit")}" +
                $"; max batch {max.MaxBatch} ({ReportText.Reason(max.Reason)})");
            if (r.Failure is not null) console.WriteLine($"    {r.Failure}");
        }
    }
}
