namespace PagedSim.Model.Generation;

/// <summary>The outcome of a <see cref="ContinuousBatchGenerator"/> run.</summary>
/// <param name="Results">One per request, in request order.</param>
/// <param name="Steps">Scheduler steps until the last request finished.</param>
/// <param name="Preemptions">Preemptions over the run.</param>
/// <param name="PeakBlocks">Most blocks in use at once.</param>
/// <param name="TotalBlocks">Blocks in the pool.</param>
/// <param name="ForwardPasses">Forward passes run (a step with admissions runs one per prompt length, plus the decode pass).</param>
/// <param name="PrefillTokens">Tokens fed in prefill passes, recomputation after preemption included.</param>
/// <param name="Seconds">Wall time of the run.</param>
/// <param name="Timeline">The batch after every step.</param>
/// <param name="AdmittedTokens">Tokens admitted, summed over admissions (recomputations included).</param>
/// <param name="CachedTokens">Of those, tokens found in the prefix cache (not prefilled).</param>
public sealed record ContinuousRun(
    IReadOnlyList<ContinuousRequestResult> Results, long Steps, int Preemptions, int PeakBlocks, int TotalBlocks,
    int ForwardPasses, long PrefillTokens, double Seconds, IReadOnlyList<ContinuousTimelinePoint> Timeline,
    long AdmittedTokens = 0, long CachedTokens = 0)
{
    /// <summary>Cached prompt tokens ÷ prompt tokens, 0–1.</summary>
    public double PrefixHitRate => AdmittedTokens == 0 ? 0 : (double)CachedTokens / AdmittedTokens;

    /// <summary>Tokens produced by all requests (stop tokens included).</summary>
    public long GeneratedTokens => Results.Sum(r => (long)r.ProducedTokens);

    /// <summary>Generated tokens per second of wall time.</summary>
    public double TokensPerSecond => Seconds > 0 ? GeneratedTokens / Seconds : 0;
}
