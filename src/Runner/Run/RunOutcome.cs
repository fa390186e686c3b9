using PagedSim.Model.Generation;

namespace PagedSim.Runner;

/// <summary>What one generation run measured.</summary>
/// <param name="Results">Per request, in request order.</param>
/// <param name="GeneratedTokens">Tokens generated (stop tokens included), the seed's answer tokens.</param>
/// <param name="Seconds">Wall time of the generation (prefill and decode).</param>
/// <param name="PrefillPasses">Prompt passes.</param>
/// <param name="PrefillSeconds">Their wall time.</param>
/// <param name="DecodeSteps">Decode steps (one token of every running request each).</param>
/// <param name="DecodeSeconds">Their wall time.</param>
/// <param name="DecodeLaunchSeconds">Host time of the decode steps until the forward pass returned (queued work).</param>
/// <param name="MaxBatch">Most requests in one decode step.</param>
/// <param name="TotalBlocks">Blocks in the paged pool, or rows of the naive cache.</param>
/// <param name="PeakBlocks">Most blocks (rows) in use at once.</param>
/// <param name="KvPoolBytes">Bytes the cache allocated on the device.</param>
/// <param name="PeakKvBytes">Peak KV bytes reserved by running requests (paged: blocks in use; naive: the whole cache).</param>
/// <param name="FragmentedBytes">The seed's fragmentation figure (paged: empty slots of each request's last block at
/// its end; naive: max length − answer tokens per request).</param>
/// <param name="PeakDeviceBytes">Peak device memory in use (total − free, polled every pass), or null off CUDA.</param>
/// <param name="BaselineDeviceBytes">Device memory in use before the model was created, or null off CUDA.</param>
internal sealed record RunOutcome(
    IReadOnlyList<GenerationResult> Results, long GeneratedTokens, double Seconds, int PrefillPasses, double PrefillSeconds,
    int DecodeSteps, double DecodeSeconds, double DecodeLaunchSeconds, int MaxBatch, int TotalBlocks, int PeakBlocks,
    long KvPoolBytes, long PeakKvBytes, long FragmentedBytes, long? PeakDeviceBytes, long? BaselineDeviceBytes)
{
    /// <summary>Wall time of each prompt pass, in order: the first also pays for loading kernels and growing the
    /// allocator's pool, which later passes do not.</summary>
    public IReadOnlyList<double> PrefillPassSeconds { get; init; } = [];

    /// <summary>Generated tokens per second of wall time.</summary>
    public double TokensPerSecond => GeneratedTokens / Math.Max(Seconds, 1e-9);

    /// <summary>Mean wall time of a decode step, in milliseconds.</summary>
    public double MeanStepMs => DecodeSteps == 0 ? 0 : 1000 * DecodeSeconds / DecodeSteps;

    /// <summary>Mean host time to queue a decode step's forward pass, in milliseconds.</summary>
    public double MeanLaunchMs => DecodeSteps == 0 ? 0 : 1000 * DecodeLaunchSeconds / DecodeSteps;
}
