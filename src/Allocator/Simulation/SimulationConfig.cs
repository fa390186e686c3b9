using PagedSim.Allocator.Scheduling;

namespace PagedSim.Allocator.Simulation;

/// <summary>Everything a simulation needs besides the trace.</summary>
/// <param name="Memory">Model, GPU, dtype, tensor parallelism and overheads.</param>
/// <param name="BlockSize">Tokens per paged block.</param>
/// <param name="Mode">Static (the seed's experiment) or continuous batching.</param>
/// <param name="SeedCompatible">Paged exactly as the seed: a fixed pool of (max length / block size) × 5 blocks,
/// random block choice, finished requests keep their first block, the seed's position-by-position timeline.</param>
/// <param name="Scheduler">Admission limits for continuous mode.</param>
/// <param name="RandomSeed">Seed of the seed-compatible policy's random block choice.</param>
/// <param name="PrefixCaching">Automatic prefix caching (continuous mode): requests that bring prompt ids reuse cached
/// full blocks (<see cref="PrefixCache"/>).</param>
/// <param name="RaggedPrefill">A static batch's prompts of every length share prefill passes (the runner's
/// <c>--prefill ragged</c>; <see cref="PrefillPlan.RaggedPasses"/>) instead of one pass a length.</param>
public sealed record SimulationConfig(
    MemoryModel Memory, int BlockSize = 256, SimulationMode Mode = SimulationMode.Static, bool SeedCompatible = false,
    SchedulerOptions? Scheduler = null, int RandomSeed = 0, bool PrefixCaching = false, bool RaggedPrefill = false)
{
    /// <summary>Admission limits in effect. The default's 8192 tokens per step grow to the max sequence length when
    /// that is longer, as vLLM's max_num_batched_tokens defaults to max(max_model_len, …) without chunked prefill, so
    /// that one prompt (or a preempted sequence's recompute) of any allowed length can start.</summary>
    public SchedulerOptions SchedulerOptions => Scheduler is { } given && given != SchedulerOptions.Default ? given
        : SchedulerOptions.Default with { MaxTokensPerStep = Math.Max(SchedulerOptions.Default.MaxTokensPerStep, MaxSequenceLength) };

    /// <summary>Tokens per forward pass of a static batch's chunked prefill: the scheduler's limit as given (8192 by
    /// default), whatever the context.</summary>
    public int PrefillChunkTokens => (Scheduler ?? SchedulerOptions.Default).MaxTokensPerStep;

    /// <summary>Longest sequence.</summary>
    public int MaxSequenceLength => Memory.Model.MaxSequenceLength;

    /// <summary>The seed's pool: (max length / block size) × 5 blocks (160 for 8192 and 256).</summary>
    public int SeedPoolBlocks => MaxSequenceLength / BlockSize * 5;

    /// <summary>Throws <see cref="ArgumentException"/> for settings that cannot be simulated.</summary>
    public void Validate()
    {
        if (BlockSize <= 0) throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "Block size must be a positive number of tokens.");
        if (BlockSize > MaxSequenceLength) throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, $"Block size must not exceed the max sequence length {MaxSequenceLength}.");
        if (SeedCompatible && Mode == SimulationMode.Continuous)
            throw new ArgumentException("The seed's settings apply to the static experiment only; drop --seed-compat or use --mode static.");
        if (PrefixCaching && Mode != SimulationMode.Continuous)
            throw new ArgumentException("Prefix caching applies to continuous batching only; use --mode continuous.");
        Memory.Model.ValidateTensorParallel(Memory.TensorParallel);
        _ = Memory.ElementBytes;
        SchedulerOptions.Validate(MaxSequenceLength);
    }
}
