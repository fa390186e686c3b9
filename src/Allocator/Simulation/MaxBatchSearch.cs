namespace PagedSim.Allocator.Simulation;

/// <summary>The largest static batch that fits, found by bisection (fitting is monotone in the batch size: one more
/// request only adds blocks at every step and only adds overhead).</summary>
public static class MaxBatchSearch
{
    /// <summary>Upper limit of any search.</summary>
    public const int SearchLimit = 1 << 20;

    /// <summary>The largest n in [0, <paramref name="limit"/>] with <paramref name="fits"/>(n), for a monotone
    /// predicate (true up to some n, false after); 0 fits by definition. Doubles up from 1, then bisects.</summary>
    public static int Find(Func<int, bool> fits, int limit)
    {
        ArgumentNullException.ThrowIfNull(fits);
        if (limit <= 0) return 0;
        int good = 0, bad = -1;
        for (int n = 1; ; n = (int)Math.Min(limit, 2L * n))
        {
            if (fits(n)) good = n;
            else { bad = n; break; }
            if (n == limit) return limit;
        }
        while (bad - good > 1)
        {
            int mid = good + (bad - good) / 2;
            if (fits(mid)) good = mid;
            else bad = mid;
        }
        return good;
    }

    /// <summary>The largest static batch of the trace's first requests (repeated past its end) for the paged or the
    /// naive cache, with what stops the next larger one.</summary>
    public static MaxBatchResult Run(SimulationConfig config, Trace trace, bool paged)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(trace);
        SimulationConfig staticConfig = config with { Mode = SimulationMode.Static, PrefixCaching = false };
        RunResult Simulate(int n)
        {
            IReadOnlyList<TraceRequest> requests = Simulator.FirstRequests(trace, n);
            return paged ? Simulator.RunPaged(staticConfig, requests) : Simulator.RunNaive(staticConfig, requests);
        }
        // Every request needs a block (paged) or a reservation (naive): the batch of one bounds the answer.
        (long tokens, long sequences) = Simulator.StepShape(staticConfig, Simulator.FirstRequests(trace, 1));
        long bound = paged
            ? (config.SeedCompatible ? config.SeedPoolBlocks : config.Memory.PagedBlocks(config.BlockSize, tokens, sequences))
            : config.Memory.NaiveSlots(tokens, sequences) / config.MaxSequenceLength;
        int limit = (int)Math.Min(bound, SearchLimit);
        int max = Find(n => Simulate(n).Fits, limit);
        if (max == SearchLimit) return new MaxBatchResult(max, LimitReason.SearchLimit, $"stopped at {SearchLimit} requests", max > trace.Requests.Count);
        RunResult next = Simulate(max + 1);
        string detail = max == 0 ? $"not even 1 request fits: {next.Failure}" : $"{max + 1:N0} requests do not fit: {next.Failure}";
        return new MaxBatchResult(max, next.Reason, detail, max + 1 > trace.Requests.Count);
    }
}
