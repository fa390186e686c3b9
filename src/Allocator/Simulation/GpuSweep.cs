namespace PagedSim.Allocator.Simulation;

/// <summary>
/// The same setup across GPUs (memory sizes or presets): at each, the largest static batch of the trace's first
/// requests (repeated past its end) paged and naive, and the predicted time and tokens/s of running that batch.
/// </summary>
public static class GpuSweep
{
    /// <summary>Runs the sweep; <paramref name="progress"/> hears each point's index as it completes.</summary>
    public static IReadOnlyList<SweepPoint> Run(SimulationConfig config, Trace trace, IReadOnlyList<GpuSpec> gpus, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(gpus);
        var points = new SweepPoint[gpus.Count];
        for (int i = 0; i < gpus.Count; i++)
        {
            SimulationConfig at = config with { Mode = SimulationMode.Static, Memory = config.Memory with { Gpu = gpus[i] } };
            MaxBatchResult paged = MaxBatchSearch.Run(at, trace, paged: true), naive = MaxBatchSearch.Run(at, trace, paged: false);
            points[i] = new SweepPoint(gpus[i], paged, naive, Time(at, trace, paged.MaxBatch, paged: true), Time(at, trace, naive.MaxBatch, paged: false));
            progress?.Invoke(i);
        }
        return points;
    }

    private static TimingResult? Time(SimulationConfig config, Trace trace, int batch, bool paged)
    {
        if (batch == 0) return null;
        IReadOnlyList<TraceRequest> requests = Simulator.FirstRequests(trace, batch);
        return (paged ? Simulator.RunPaged(config, requests, predictTime: true) : Simulator.RunNaive(config, requests, predictTime: true)).Timing;
    }
}
