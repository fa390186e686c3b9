namespace PagedSim.Allocator.Simulation;

/// <summary>Paged against naive for one setup and trace: the runs (with their predicted time), and the largest batches.</summary>
/// <param name="Config">The setup.</param>
/// <param name="TraceSource">Where the requests came from.</param>
/// <param name="Paged">The trace through the paged cache.</param>
/// <param name="Naive">The trace through max-length reservations.</param>
/// <param name="PagedMax">Largest static paged batch.</param>
/// <param name="NaiveMax">Largest static naive batch.</param>
/// <param name="PrefixSweep">The prefix hit rate at several GPU memory sizes, when asked for.</param>
public sealed record SimulationReport(
    SimulationConfig Config, string TraceSource, RunResult Paged, RunResult Naive, MaxBatchResult PagedMax, MaxBatchResult NaiveMax,
    IReadOnlyList<PrefixCacheSweepPoint>? PrefixSweep = null)
{
    /// <summary>The time model's figures for this setup's GPU, or null when it has none (a size given alone).</summary>
    public StepTimeParameters? TimeParameters => StepTimeParameters.For(Config.Memory.Gpu);

    /// <summary>Runs both caches over <paramref name="requests"/> and searches both max batches over <paramref name="trace"/>.</summary>
    public static SimulationReport Create(SimulationConfig config, Trace trace, IReadOnlyList<TraceRequest> requests, bool keepTimeline = false)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return new SimulationReport(config, trace.Source,
            Simulator.RunPaged(config, requests, keepTimeline, trace.ThinkSteps, predictTime: true),
            Simulator.RunNaive(config, requests, keepTimeline, predictTime: true),
            MaxBatchSearch.Run(config, trace, paged: true),
            MaxBatchSearch.Run(config, trace, paged: false));
    }
}
