namespace PagedSim.Model.Generation;

/// <summary>The outcome of a <see cref="ParallelSampler"/> run.</summary>
/// <param name="Samples">Per prompt, its K samples in sample order.</param>
/// <param name="Shared">Whether samples shared the prompt's blocks (forked) or each had its own copy.</param>
/// <param name="Steps">Steps until the last sample finished (a step admits and prefills waiting prompts and decodes
/// one token of every running sample).</param>
/// <param name="PeakBlocks">Most blocks in use at once.</param>
/// <param name="TotalBlocks">Blocks in the pool.</param>
/// <param name="CopiedBlocks">Copy-on-write block copies carried out (every layer's K and V each time).</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="BlocksPerStep">Blocks in use in each step (index 0 is step 1).</param>
public sealed record ParallelSamplingRun(
    IReadOnlyList<IReadOnlyList<GenerationResult>> Samples, bool Shared, long Steps, int PeakBlocks, int TotalBlocks,
    int CopiedBlocks, double Seconds, IReadOnlyList<int> BlocksPerStep);
