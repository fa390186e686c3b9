namespace PagedSim.Allocator.Simulation;

/// <summary>
/// How the prefix hit rate falls as KV memory shrinks: the same continuous-mode run, with and without prefix caching,
/// at several GPU memory sizes (the pool is what weights and overhead leave). Less memory means cached blocks are
/// evicted sooner (and preempted requests recompute), so fewer prompts find their history still cached.
/// </summary>
public static class PrefixCacheSweep
{
    /// <summary>Runs <paramref name="requests"/> at every size of <paramref name="gpus"/>.</summary>
    /// <param name="config">The setup (continuous mode, prefix caching on); its GPU is replaced by each size.</param>
    /// <param name="requests">The requests, with prompt ids.</param>
    /// <param name="thinkSteps">The trace's arrival rule (<see cref="Trace.ThinkSteps"/>).</param>
    /// <param name="gpus">GPU sizes, in the order to report.</param>
    /// <param name="progress">Called after each size with the number done.</param>
    public static IReadOnlyList<PrefixCacheSweepPoint> Run(SimulationConfig config, IReadOnlyList<TraceRequest> requests,
        long? thinkSteps, IReadOnlyList<GpuSpec> gpus, Action<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(gpus);
        var points = new List<PrefixCacheSweepPoint>(gpus.Count);
        long blockBytes = config.Memory.Layout.BytesPerBlock(config.BlockSize);
        foreach (GpuSpec gpu in gpus)
        {
            SimulationConfig sized = config with { Memory = config.Memory with { Gpu = gpu }, PrefixCaching = true };
            RunResult cached = Simulator.RunPaged(sized, requests, false, thinkSteps);
            RunResult plain = Simulator.RunPaged(sized with { PrefixCaching = false }, requests, false, thinkSteps);
            bool ran = cached.Reason is not (LimitReason.WeightsDoNotFit or LimitReason.Memory);
            points.Add(new PrefixCacheSweepPoint(gpu.Name, gpu.TotalMemoryBytes, ran ? cached.CapacityUnits : 0, cached.Fits,
                cached.PrefixCache, cached.Steps, cached.Preemptions, (long)(cached.Peak.ReservedBytes / blockBytes),
                plain.Steps, plain.Preemptions));
            progress?.Invoke(points.Count);
        }
        return points;
    }
}
