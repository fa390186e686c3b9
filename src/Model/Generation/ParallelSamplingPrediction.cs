using PagedSim.Allocator;

namespace PagedSim.Model.Generation;

/// <summary>
/// The prediction for a <see cref="ParallelSampler"/> run from lengths alone: the same <see cref="ForkedGroups"/>
/// policy over a bare <see cref="KvCacheManager"/>, every sample producing exactly its max new tokens (as a run without
/// stop tokens does). Blocks and copies are the run's by construction; the saving against K independent copies is the
/// difference of the shared and independent predictions.
/// </summary>
/// <param name="Steps">Steps until the last sample finishes.</param>
/// <param name="PeakBlocks">Most blocks in use at once.</param>
/// <param name="CopiedBlocks">Copy-on-write block copies.</param>
/// <param name="BlocksPerStep">Blocks in use in each step (index 0 is step 1).</param>
public sealed record ParallelSamplingPrediction(long Steps, int PeakBlocks, int CopiedBlocks, IReadOnlyList<int> BlocksPerStep)
{
    /// <summary>Replays <paramref name="requests"/> (prompt tokens, max new tokens) with <paramref name="samples"/>
    /// samples each through a pool made with <paramref name="options"/>.</summary>
    public static ParallelSamplingPrediction Simulate(KvCacheOptions options, int samples, bool share,
        IReadOnlyList<(int Prompt, int MaxNew)> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var cache = new KvCacheManager(options);
        var groups = new ForkedGroups(cache, samples, share);
        var remaining = new List<int>(); // tokens each group's samples still produce
        foreach ((int prompt, int maxNew) in requests)
        {
            groups.Submit(prompt, maxNew);
            remaining.Add(maxNew);
        }
        var running = new List<int>();
        var blocksPerStep = new List<int>();
        int peak = 0, copies = 0;
        while (!groups.IsIdle)
        {
            foreach (int g in running)
                foreach (int sequence in groups.SequencesOf(g))
                    if (cache.Append(sequence).IsNeeded) copies++;
            IReadOnlyList<int> admitted = groups.AdmitWaiting();
            if (admitted.Count == 0 && running.Count == 0) throw new InvalidOperationException("No group could be admitted into an empty pool.");
            peak = Math.Max(peak, cache.UsedBlocks);
            blocksPerStep.Add(cache.UsedBlocks);
            // All samples of a group produce one token a step (the prefill step included) and end together.
            var stepped = running.Concat(admitted).ToList();
            running.Clear();
            foreach (int g in stepped)
            {
                if (--remaining[g] > 0) running.Add(g);
                else
                    for (int j = 0; j < samples; j++) groups.Finish(g, j);
            }
        }
        return new ParallelSamplingPrediction(blocksPerStep.Count, peak, copies, blocksPerStep);
    }
}
