namespace PagedSim.Allocator.Scheduling;

/// <summary>Admission limits of a <see cref="Scheduler"/> (defaults follow vLLM's).</summary>
/// <param name="WatermarkFraction">Share of the pool's blocks kept free when admitting (vLLM: 0.01), so running
/// requests can grow a while before anyone is preempted.</param>
/// <param name="MaxRunning">Most requests in one batch (vLLM's max_num_seqs: 256).</param>
/// <param name="MaxTokensPerStep">Most tokens one forward pass processes, prompts plus one per decoding request
/// (vLLM's max_num_batched_tokens); at least the max sequence length, so any prompt can start when alone.</param>
public sealed record SchedulerOptions(double WatermarkFraction = 0.01, int MaxRunning = 256, int MaxTokensPerStep = 8192)
{
    /// <summary>The defaults.</summary>
    public static SchedulerOptions Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate(int maxSequenceLength)
    {
        if (WatermarkFraction is < 0 or >= 1 || double.IsNaN(WatermarkFraction))
            throw new ArgumentOutOfRangeException(nameof(WatermarkFraction), WatermarkFraction, "Watermark must be in [0, 1).");
        if (MaxRunning <= 0) throw new ArgumentOutOfRangeException(nameof(MaxRunning), MaxRunning, "Max running requests must be positive.");
        if (MaxTokensPerStep < maxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(MaxTokensPerStep), MaxTokensPerStep, $"Tokens per step must be at least the max sequence length {maxSequenceLength}.");
    }
}
