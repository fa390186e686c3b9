namespace PagedSim.Allocator.Simulation;

/// <summary>Draws synthetic requests from a trace's length distribution.</summary>
public static class SyntheticTrace
{
    /// <summary>
    /// <paramref name="count"/> requests, each a (prompt, output) pair drawn uniformly with replacement from
    /// <paramref name="source"/> (a bootstrap sample: keeps the joint distribution of prompt and answer lengths).
    /// The same seed gives the same trace.
    /// </summary>
    public static Trace Draw(Trace source, int count, int seed)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Request count must be positive.");
        if (source.Requests.Count == 0) throw new ArgumentException("The source trace holds no requests.", nameof(source));
        var random = new Random(seed);
        var requests = new TraceRequest[count];
        for (int i = 0; i < count; i++)
        {
            TraceRequest r = source.Requests[random.Next(source.Requests.Count)];
            requests[i] = new TraceRequest($"syn{i}", r.PromptTokens, r.OutputTokens);
        }
        return new Trace(requests, $"{count} synthetic requests drawn from {source.Source} (seed {seed})");
    }
}
