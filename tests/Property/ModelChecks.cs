using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>The invariants checked after every step: the manager against the model, piece by piece.</summary>
internal static class ModelChecks
{
    public static void Check(KvCacheManager m, CacheModel model)
    {
        int bs = model.BlockSize;

        // Which sequences exist.
        Assert.Equal(model.Running.Count, m.RunningCount);
        Assert.Equal(model.Retired.Count, m.RetiredCount);
        for (int id = -1; id <= model.MaxIdSeen + 1; id++) Assert.Equal(model.IsRunning(id), m.IsRunning(id));

        // Each table equals the model's and holds exactly ceil(tokens / block size) distinct blocks.
        var holders = new int[m.TotalBlocks];
        foreach (int id in model.Known)
        {
            BlockTable t = m.Table(id);
            int tokens = model.TokensOf(id);
            Assert.Equal(tokens, t.TokenCount);
            Assert.Equal(model.TableOf(id), t.Blocks.ToArray());
            int expectedBlocks = (tokens + bs - 1) / bs;
            Assert.Equal(expectedBlocks, t.BlockCount);
            Assert.Equal(t.BlockCount, t.Blocks.ToArray().Distinct().Count());
            for (int b = 0; b < t.BlockCount; b++)
            {
                holders[t.Blocks[b]]++;
                // Every holder of a block agrees on how many tokens it holds (shared blocks are never written).
                Assert.Equal(Math.Min(bs, tokens - b * bs), model.Fill(t.Blocks[b]));
            }
        }

        // A block sits in several tables only when shared, and its count says how many.
        for (int b = 0; b < m.TotalBlocks; b++)
        {
            Assert.True(holders[b] == m.Pool.RefCount(b), $"Block {b}: reference count {m.Pool.RefCount(b)}, held by {holders[b]} table(s).");
            Assert.Equal(model.Holders(b), holders[b]);
        }

        // Accounting.
        int used = holders.Count(h => h > 0);
        Assert.Equal(model.UsedBlocks, used);
        Assert.Equal(used, m.UsedBlocks);
        Assert.Equal(model.NumBlocks, m.TotalBlocks);
        Assert.Equal(m.TotalBlocks, m.FreeBlocks + m.UsedBlocks);
        Assert.Equal(m.FreeBlocks, m.Pool.FreeCount);
        Assert.Equal((long)used * bs, m.ReservedSlots);
        Assert.Equal(model.FilledSlots, m.FilledSlots);
        KvCacheUsage usage = m.Usage(ManagerSnapshot.Layout);
        Assert.Equal((long)used * bs - model.FilledSlots, usage.FragmentedSlots);
        Assert.Equal(model.FilledSlots * ManagerSnapshot.BytesPerToken, usage.FilledBytes);

        // The seed's fragmentation: empty slots of each table's last block (running or retired), in bytes.
        long seedSlots = model.Known.Sum(id => (long)(bs - model.Fill(model.TableOf(id)[^1])));
        Assert.Equal(seedSlots * ManagerSnapshot.BytesPerToken, m.SeedFragmentedBytes(ManagerSnapshot.Layout));

        CheckDense(m, model);
    }

    private static void CheckDense(KvCacheManager m, CacheModel model)
    {
        int width = model.MaxLength / model.BlockSize + (model.MaxLength % model.BlockSize == 0 ? 0 : 1);
        Assert.Equal(width, m.MaxBlocksPerSequence);
        ReadOnlySpan<int> dense = m.DenseBlockTable;
        ReadOnlySpan<int> lengths = m.DenseSequenceLengths;
        Assert.Equal(model.Running.Count * width, dense.Length);
        Assert.Equal(model.Running.Count, lengths.Length);
        Assert.Equal(model.Running.Count, m.RunningSequences.Length);
        var seen = new HashSet<int>();
        for (int row = 0; row < model.Running.Count; row++)
        {
            int id = m.SequenceAt(row);
            Assert.True(model.IsRunning(id), $"Dense row {row} holds sequence {id}, which is not running.");
            Assert.True(seen.Add(id), $"Sequence {id} sits in two dense rows.");
            Assert.Equal(id, m.RunningSequences[row]);
            Assert.Equal(row, m.RowOf(id));
            Assert.Equal(model.TokensOf(id), lengths[row]);
            IReadOnlyList<int> table = model.TableOf(id);
            for (int col = 0; col < width; col++)
                Assert.Equal(col < table.Count ? table[col] : -1, dense[row * width + col]);
        }
    }
}
