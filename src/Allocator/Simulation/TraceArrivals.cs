namespace PagedSim.Allocator.Simulation;

/// <summary>
/// When the requests of a trace arrive. Without a think time every request arrives at the start (a length trace);
/// with one, turn K + 1 of a conversation arrives <c>ThinkSteps</c> steps after turn K finishes (in step
/// finish + 1 + think steps; the scheduler's clock counts steps, not seconds), and every first turn at the start.
/// </summary>
public static class TraceArrivals
{
    /// <summary>For each request, the index of the earlier request it follows (the previous turn of its conversation),
    /// or -1 when it arrives at the start. A turn whose previous turn is not among <paramref name="requests"/> (a trace
    /// cut short) arrives at the start.</summary>
    public static int[] Predecessors(IReadOnlyList<TraceRequest> requests, long? thinkSteps)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var after = new int[requests.Count];
        Array.Fill(after, -1);
        if (thinkSteps is null) return after;
        var last = new Dictionary<(string, int), int>();
        for (int i = 0; i < requests.Count; i++)
        {
            TraceRequest r = requests[i];
            if (r.Conversation is null || r.Turn <= 0) continue;
            if (r.Turn > 1 && last.TryGetValue((r.Conversation, r.Turn - 1), out int previous)) after[i] = previous;
            last[(r.Conversation, r.Turn)] = i;
        }
        return after;
    }
}
