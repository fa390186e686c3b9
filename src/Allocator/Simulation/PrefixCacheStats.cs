namespace PagedSim.Allocator.Simulation;

/// <summary>What prefix caching saved over a run.</summary>
/// <param name="PromptTokens">Tokens admitted, summed over admissions (prompts, and recomputations after preemption).</param>
/// <param name="CachedTokens">Of those, tokens whose K/V came from cached blocks: prefill tokens saved.</param>
/// <param name="Evictions">Cached blocks evicted to make room.</param>
public sealed record PrefixCacheStats(long PromptTokens, long CachedTokens, long Evictions)
{
    /// <summary>Cached prompt tokens ÷ prompt tokens, 0–1.</summary>
    public double HitRate => PromptTokens == 0 ? 0 : (double)CachedTokens / PromptTokens;

    /// <summary>Tokens the prefill passes computed.</summary>
    public long PrefilledTokens => PromptTokens - CachedTokens;
}
