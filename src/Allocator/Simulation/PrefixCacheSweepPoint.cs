namespace PagedSim.Allocator.Simulation;

/// <summary>One GPU memory size of a prefix-cache sweep (<see cref="PrefixCacheSweep"/>).</summary>
/// <param name="Gpu">The size as given (e.g. "24GB").</param>
/// <param name="GpuBytes">GPU memory in bytes.</param>
/// <param name="Blocks">Blocks in the pool at that size (0 when weights and overhead leave no room).</param>
/// <param name="Fits">Whether every request completed.</param>
/// <param name="Stats">What caching saved (null when nothing ran).</param>
/// <param name="Steps">Steps with prefix caching.</param>
/// <param name="Preemptions">Preemptions with prefix caching.</param>
/// <param name="PeakBlocks">Most blocks held by sequences at once (cached, unheld blocks not counted).</param>
/// <param name="StepsWithoutCaching">Steps of the same run without prefix caching.</param>
/// <param name="PreemptionsWithoutCaching">Preemptions of the same run without prefix caching.</param>
public sealed record PrefixCacheSweepPoint(
    string Gpu, long GpuBytes, long Blocks, bool Fits, PrefixCacheStats? Stats, long Steps, int Preemptions, long PeakBlocks,
    long StepsWithoutCaching, int PreemptionsWithoutCaching)
{
    /// <summary>Cached prompt tokens ÷ prompt tokens (0 when nothing ran).</summary>
    public double HitRate => Stats?.HitRate ?? 0;
}
