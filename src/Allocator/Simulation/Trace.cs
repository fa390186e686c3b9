namespace PagedSim.Allocator.Simulation;

/// <summary>An ordered list of requests' lengths: what the simulator replays.</summary>
/// <param name="Requests">Requests in arrival order.</param>
/// <param name="Source">Where the lengths came from (a file name, or a description of a synthetic draw).</param>
/// <param name="ThinkSteps">Null when every request arrives at the start; otherwise each later turn of a conversation
/// arrives this many steps after the previous turn finishes (<see cref="TraceArrivals"/>).</param>
public sealed record Trace(IReadOnlyList<TraceRequest> Requests, string Source, long? ThinkSteps = null)
{
    /// <summary>The first <paramref name="count"/> requests.</summary>
    public Trace Take(int count)
    {
        if (count <= 0 || count > Requests.Count)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"The trace has {Requests.Count} request(s); ask for 1 to {Requests.Count}.");
        return this with { Requests = Requests.Take(count).ToArray() };
    }

    /// <summary>Throws <see cref="TraceFormatException"/> naming the first request with a zero/negative length, or one
    /// longer than <paramref name="maxSequenceLength"/>.</summary>
    public void Validate(int maxSequenceLength, string origin)
    {
        if (Requests.Count == 0) throw new TraceFormatException(origin, "the trace holds no requests");
        if (ThinkSteps < 0) throw new TraceFormatException(origin, $"think_steps must not be negative, got {ThinkSteps}");
        foreach (TraceRequest r in Requests)
        {
            if (r.PromptTokens <= 0) throw new TraceFormatException(origin, $"request {r.Id}: prompt_tokens must be positive, got {r.PromptTokens}");
            if (r.OutputTokens <= 0) throw new TraceFormatException(origin, $"request {r.Id}: output_tokens must be positive, got {r.OutputTokens}");
            if (r.PromptIds is not null && r.PromptIds.Length != r.PromptTokens)
                throw new TraceFormatException(origin, $"request {r.Id}: prompt_ids holds {r.PromptIds.Length} ids for {r.PromptTokens} prompt_tokens");
            if (r.PromptIds is not null && Array.Exists(r.PromptIds, id => id < 0))
                throw new TraceFormatException(origin, $"request {r.Id}: prompt_ids holds a negative id");
            if (r.Turn < 0) throw new TraceFormatException(origin, $"request {r.Id}: turn must be 1 or more, got {r.Turn}");
            if ((long)r.PromptTokens + r.OutputTokens > maxSequenceLength)
                throw new TraceFormatException(origin, $"request {r.Id}: {r.PromptTokens} prompt + {r.OutputTokens} output tokens exceed the max sequence length {maxSequenceLength}");
        }
    }
}
