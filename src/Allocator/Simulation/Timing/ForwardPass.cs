namespace PagedSim.Allocator.Simulation;

/// <summary>
/// What one forward pass does, counted in tokens: the input <see cref="StepTimeModel"/> turns into bytes, FLOPs and
/// seconds. A prefix-cache hit enters here: its tokens are cached, not computed, so they add to
/// <see cref="KeysRead"/> and to each computed query's keys but not to <see cref="Tokens"/>.
/// </summary>
/// <param name="Sequences">Sequences in the pass (each gets one row of logits).</param>
/// <param name="Tokens">Tokens computed: one per decoding sequence, a prompt chunk (or a preempted request's
/// recompute) per prefilling one. Each token's key and value are written to the cache.</param>
/// <param name="KeysAttended">Sum over computed tokens of the keys each attends to (causal): attention's FLOPs.</param>
/// <param name="KeysRead">Cached keys (and values) attention reads from memory, the pass's own included.</param>
public readonly record struct ForwardPass(long Sequences, long Tokens, double KeysAttended, long KeysRead)
{
    /// <summary>A decode pass: <paramref name="sequences"/> sequences, one token each, reading
    /// <paramref name="keys"/> cached tokens in all (each sequence's context, its new token included).</summary>
    public static ForwardPass Decode(long sequences, long keys) => new(sequences, sequences, keys, keys);

    /// <summary>A prefill pass of <paramref name="sequences"/> sequences that each hold <paramref name="cached"/>
    /// tokens already (a prefix-cache hit; 0 without one) and compute <paramref name="computed"/> more.</summary>
    public static ForwardPass Prefill(long sequences, int cached, int computed)
    {
        // Query i (1-based) of the computed part attends to cached + i keys.
        double attended = (double)computed * cached + computed * (computed + 1.0) / 2;
        return new ForwardPass(sequences, sequences * computed, sequences * attended, sequences * (long)(cached + computed));
    }
}
