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

    /// <summary>
    /// As <see cref="Find(Func{int, bool}, int)"/>, starting from a guess: gallops away from <paramref name="hint"/>
    /// (steps 1, 2, 4, …) until the answer is bracketed, then bisects. The answer is the same for any hint; a good one
    /// (a neighbouring sweep point's, extrapolated) costs two or three calls of <paramref name="fits"/> instead of
    /// about twice log2 of the answer.
    /// </summary>
    public static int Find(Func<int, bool> fits, int limit, int hint)
    {
        ArgumentNullException.ThrowIfNull(fits);
        if (limit <= 0) return 0;
        int n = Math.Clamp(hint, 1, limit);
        int good, bad;
        if (fits(n))
        {
            good = n;
            bad = -1;
            for (long step = 1; bad < 0; step *= 2)
            {
                if (good == limit) return limit;
                int next = (int)Math.Min(limit, good + step);
                if (fits(next)) good = next;
                else bad = next;
            }
        }
        else
        {
            bad = n;
            good = -1;
            for (long step = 1; good < 0; step *= 2)
            {
                int next = (int)Math.Max(0, bad - step);
                if (next == 0 || fits(next)) good = next;
                else bad = next;
            }
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
    /// naive cache, with what stops the next larger one; <paramref name="hint"/>, a guess at the answer, only
    /// changes how many batches are simulated on the way.</summary>
    public static MaxBatchResult Run(SimulationConfig config, Trace trace, bool paged, int? hint = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(trace);
        SimulationConfig staticConfig = config with { Mode = SimulationMode.Static, PrefixCaching = false };
        RunResult? firstFailure = null;
        RunResult Simulate(int n)
        {
            IReadOnlyList<TraceRequest> requests = Simulator.FirstRequests(trace, n);
            return paged ? Simulator.RunPaged(staticConfig, requests) : Simulator.RunNaive(staticConfig, requests);
        }
        bool Fits(int n)
        {
            RunResult r = Simulate(n);
            // The search always ends having tried max + 1: keep the smallest failure instead of simulating it again.
            if (!r.Fits && (firstFailure is null || n < firstFailure.Requests)) firstFailure = r;
            return r.Fits;
        }
        // Every request needs a block (paged) or a reservation (naive): the batch of one bounds the answer.
        (long tokens, long sequences) = Simulator.StepShape(staticConfig, Simulator.FirstRequests(trace, 1));
        long bound = paged
            ? (config.SeedCompatible ? config.SeedPoolBlocks : config.Memory.PagedBlocks(config.BlockSize, tokens, sequences))
            : config.Memory.NaiveSlots(tokens, sequences) / config.MaxSequenceLength;
        int limit = (int)Math.Min(bound, SearchLimit);
        int max = hint is int h ? Find(Fits, limit, h) : Find(Fits, limit);
        if (max == SearchLimit) return new MaxBatchResult(max, LimitReason.SearchLimit, $"stopped at {SearchLimit} requests", max > trace.Requests.Count);
        RunResult next = firstFailure is { } f && f.Requests == max + 1 ? f : Simulate(max + 1);
        string detail = max == 0 ? $"not even 1 request fits: {next.Failure}" : $"{max + 1:N0} requests do not fit: {next.Failure}";
        return new MaxBatchResult(max, next.Reason, detail, max + 1 > trace.Requests.Count);
    }
}
