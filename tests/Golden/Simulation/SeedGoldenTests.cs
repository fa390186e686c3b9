using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>The seed's table (seed-README.md): naive batch 7 on its RTX 4090 with 7.23 GB (28.46%) fragmented;
/// paged below 1% fragmentation.</summary>
public class SeedGoldenTests
{
    private const long Rtx4090Bytes = 25_393_692_672;
    private const double SeedNaivePercent = 28.46;

    [Fact]
    public void Naive_max_batch_is_seven_and_eight_does_not_fit()
    {
        MaxBatchResult max = MaxBatchSearch.Run(TestTraces.Seed, TestTraces.ShareGpt, paged: false);
        Assert.Equal(7, max.MaxBatch);
        Assert.Equal(LimitReason.MaxLengthReservations, max.Reason);
        Assert.True(Simulator.RunNaive(TestTraces.Seed, TestTraces.ShareGpt.Take(7).Requests).Fits);
        Assert.False(Simulator.RunNaive(TestTraces.Seed, TestTraces.ShareGpt.Take(8).Requests).Fits);
    }

    [Fact]
    public void Naive_fragmentation_for_seven_is_close_to_the_seeds()
    {
        IReadOnlyList<TraceRequest> seven = TestTraces.ShareGpt.Take(7).Requests;
        RunResult naive = Simulator.RunNaive(TestTraces.Seed, seven);
        double percent = 100.0 * naive.SeedFragmentedBytes!.Value / Rtx4090Bytes;
        Assert.InRange(percent, SeedNaivePercent - 1.5, SeedNaivePercent + 1.5);
        // The seed's formula, straight from the trace: (8192 − answer tokens before the stop token) × 131,072 bytes.
        long expected = seven.Sum(r => (8192L - (r.OutputTokens - 1)) * 131_072);
        Assert.Equal(expected, naive.SeedFragmentedBytes);
    }

    [Fact]
    public void Paged_fragmentation_for_the_seeds_49_is_below_one_percent()
    {
        RunResult paged = Simulator.RunPaged(TestTraces.Seed, TestTraces.ShareGpt.Take(49).Requests);
        Assert.True(paged.Fits);
        Assert.InRange(100.0 * paged.SeedFragmentedBytes!.Value / Rtx4090Bytes, 0, 1.0);
    }

    [Fact]
    public void Paged_seed_fragmentation_is_the_seeds_formula()
    {
        // Independent arithmetic: at the end, each request that finished before the last step keeps its first block
        // (full when it had more than one block, else holding its tokens); the last to finish keep all their blocks.
        IReadOnlyList<TraceRequest> batch = TestTraces.ShareGpt.Take(49).Requests;
        int shortest = batch.Min(r => r.PromptTokens);
        long last = batch.Max(r => (long)r.PromptTokens - shortest + r.OutputTokens);
        long slots = 0;
        foreach (TraceRequest r in batch)
        {
            int tokens = r.PromptTokens + r.OutputTokens;
            bool endsLast = r.PromptTokens - shortest + r.OutputTokens == last;
            int lastBlockFill = endsLast || tokens <= 256 ? (tokens - 1) % 256 + 1 : 256;
            slots += 256 - lastBlockFill;
        }
        Assert.Equal(slots * 131_072, Simulator.RunPaged(TestTraces.Seed, batch).SeedFragmentedBytes);
    }

    [Fact]
    public void Paged_max_batch_is_where_the_seeds_pool_runs_out()
    {
        MaxBatchResult max = MaxBatchSearch.Run(TestTraces.Seed, TestTraces.ShareGpt, paged: true);
        Assert.Equal(LimitReason.SeedPool, max.Reason);
        Assert.Equal(ReferencePeakSearch(160), max.MaxBatch);
        Assert.True(max.MaxBatch >= 49, "the seed ran 49 requests in its pool");
    }

    /// <summary>
    /// Independent of the allocator: the seed's block count per step, by arithmetic. Request i holds ceil(tokens/256)
    /// blocks while running (tokens = prompt + tokens produced, one per position from its prompt's end), and one block
    /// from the step after it finishes. The largest N whose peak stays within the pool.
    /// </summary>
    private static int ReferencePeakSearch(int pool)
    {
        IReadOnlyList<TraceRequest> all = TestTraces.ShareGpt.Requests;
        for (int n = 1; n <= all.Count; n++)
        {
            var batch = all.Take(n).ToArray();
            int shortest = batch.Min(r => r.PromptTokens);
            long end = batch.Max(r => (long)r.PromptTokens - shortest + r.OutputTokens);
            for (long step = 1; step <= end; step++)
            {
                long used = 0;
                foreach (TraceRequest r in batch)
                {
                    long start = 1 + r.PromptTokens - shortest, finish = start + r.OutputTokens - 1;
                    long tokens = r.PromptTokens + Math.Clamp(step - start + 1, 0, r.OutputTokens);
                    used += step > finish ? 1 : (tokens + 255) / 256;
                }
                if (used > pool) return n - 1;
            }
        }
        return all.Count;
    }
}
