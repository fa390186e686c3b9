using PagedSim.Allocator;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner.Output;

namespace PagedSim.Runner;

/// <summary>The simulator's prediction for a batch on a GPU: paged and naive static runs and their max batches.</summary>
internal sealed record RunPrediction(MemoryModel Memory, int BlockSize, string TraceSource, bool Repeated, int Count,
    RunResult Paged, RunResult Naive, MaxBatchResult PagedMax, MaxBatchResult NaiveMax, bool RaggedPrefill = false)
{
    public static RunPrediction Create(MemoryModel memory, int blockSize, Trace trace, IReadOnlyList<TraceRequest> requests, bool raggedPrefill = false)
    {
        var config = new SimulationConfig(memory, blockSize, RaggedPrefill: raggedPrefill);
        SimulateCommand.Validate(config);
        RunResult paged = SimulateCommand.Guard(() => Simulator.RunPaged(config, requests, predictTime: true)),
            naive = Simulator.RunNaive(config, requests, predictTime: true);
        MaxBatchResult pagedMax = SimulateCommand.Guard(() => MaxBatchSearch.Run(config, trace, paged: true));
        MaxBatchResult naiveMax = MaxBatchSearch.Run(config, trace, paged: false);
        return new RunPrediction(memory, blockSize, trace.Source, requests.Count > trace.Requests.Count, requests.Count, paged, naive, pagedMax, naiveMax, raggedPrefill);
    }

    public RunResult For(bool naive) => naive ? Naive : Paged;

    /// <summary>Blocks the paged simulation of <paramref name="planned"/> (a static batch) holds at its peak, or null when it does not fit.</summary>
    public static int? PeakBlocks(MemoryModel memory, int blockSize, IReadOnlyList<TraceRequest> planned)
    {
        RunResult r = Simulator.RunPaged(new SimulationConfig(memory, blockSize), planned);
        return r.Fits ? (int)Math.Round(r.Peak.ReservedBytes / memory.Layout.BytesPerBlock(blockSize)) : null;
    }

    public MaxBatchResult MaxFor(bool naive) => naive ? NaiveMax : PagedMax;

    /// <summary>
    /// What the runner itself will hold at its peak on the device: weights, the KV it allocates up front (naive: a row
    /// of 8,192 tokens per request; paged: every request's blocks to its end, <see cref="RunSession.PoolBlocks"/>) and
    /// its calibrated runtime overhead (<see cref="RuntimeOverhead"/>), with the reference attention's own tensors in
    /// the passes it takes (<paramref name="referencePrompts"/>, <paramref name="referenceDecode"/>). The simulator's
    /// peak is what a paged runtime needs at least; this is what this runner takes.
    /// </summary>
    public long RunnerPeakBytes(bool naive, IReadOnlyList<TraceRequest> planned, int? poolCap, bool referencePrompts = false, bool referenceDecode = false,
        bool raggedInLayerLoop = false)
    {
        KvLayout layout = Memory.Layout;
        long kv = naive
            ? planned.Count * (long)RunSettings.MaxSequenceLength * layout.BytesPerToken
            : Math.Min(planned.Sum(r => (long)((r.PromptTokens + r.OutputTokens + BlockSize - 1) / BlockSize)), poolCap ?? long.MaxValue)
              * layout.BytesPerBlock(BlockSize);
        return Memory.WeightBytes + kv + RuntimeOverhead.H200.RunBytes(Memory.Model, MemoryModel.DTypes[Memory.DType], planned,
            naive ? null : BlockSize, referencePrompts, referenceDecode, raggedPrefill: RaggedPrefill, raggedInLayerLoop: raggedInLayerLoop);
    }

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

    /// <summary>The predicted time of the static batch (the same for both caches: they read the same keys), or null
    /// when neither fits or the GPU has no time figures.</summary>
    public TimingResult? Time => Paged.Timing ?? Naive.Timing;

    public void Write(TextWriter console)
    {
        console.WriteLine($"Prediction for {Count} request(s) of {TraceSource}{(Repeated ? " (trace repeated)" : "")} on {Memory.Gpu.Name} ({ByteSize.Gb(Memory.Gpu.TotalMemoryBytes)}), {Memory.Model.Name} {Memory.DType}:");
        foreach ((RunResult r, MaxBatchResult max) in new[] { (Paged, PagedMax), (Naive, NaiveMax) })
        {
            console.WriteLine($"  {r.Cache}: {(r.Fits ? $"fits, peak memory needed {ByteSize.Gb(ReportText.PeakMemory(r, Memory))} (KV {ByteSize.Gb((long)r.Peak.ReservedBytes)})" : "does not fit")}" +
                $"; max batch {max.MaxBatch} ({ReportText.Reason(max.Reason)})");
            if (r.Failure is not null) console.WriteLine($"    {r.Failure}");
        }
        console.WriteLine(TimeLine());
    }

    /// <summary>One line: the predicted speed and where its figures come from, or why there is none.</summary>
    public string TimeLine()
    {
        if (StepTimeParameters.For(Memory.Gpu) is not StepTimeParameters p) return $"  time: not predicted ({Memory.Gpu.Name} matches no GPU preset with time figures)";
        if (Time is not TimingResult t) return "  time: not predicted (the batch does not fit)";
        string source = p.Provenance.StartsWith("measured", StringComparison.Ordinal) ? "measured" : "datasheet-scaled";
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"  time: {t.TokensPerSecond:F1} tokens/s predicted ({ReportText.Seconds(t.WallSeconds)}: prefill {t.PrefillPasses} pass(es) {ReportText.Seconds(t.PrefillSeconds)}, " +
            $"{t.DecodePasses:N0} decode steps of {t.MeanDecodeSeconds * 1e3:F2} ms); TTFT p50 {ReportText.Seconds(t.Ttft.P50)}, TPOT p50 {ReportText.Seconds(t.Tpot.P50)} ({source} figures)");
    }
}
