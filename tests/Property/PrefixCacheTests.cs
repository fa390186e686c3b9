using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>What random runs rarely reach: a key collision (forged here) never yields a hit, and eviction takes the
/// least recently freed cached block first, only once no block is free.</summary>
public class PrefixCacheTests
{
    [Fact]
    public void ACollidingKeyWithOtherTokensOrAnotherParentIsAMiss()
    {
        var cache = new PrefixCache(4, 2);
        ulong key = PrefixCache.Key(0, [1, 2]);
        Assert.True(cache.Register(0, key, 0, [1, 2]));
        Assert.Equal(0, cache.Find(key, 0, [1, 2]));
        Assert.Equal(-1, cache.Find(key, 0, [1, 3]));                    // same key, other tokens: a collision
        Assert.Equal(-1, cache.Find(key, cache.SerialOf(0) + 7, [1, 2])); // same tokens after another prefix
        Assert.False(cache.Register(1, key, 0, [1, 2]));                 // one block per key: the first stays
        Assert.False(cache.IsRegistered(1));
    }

    [Fact]
    public void EvictionTakesTheLeastRecentlyFreedCachedBlockOnlyWhenNoneIsFree()
    {
        var m = new KvCacheManager(new KvCacheOptions(NumBlocks: 8, BlockSize: 2, MaxSequenceLength: 16, PrefixCaching: true));
        // Three prompts of one full block plus one token: each registers its first block.
        int[][] prompts = [[1, 1, 9], [2, 2, 9], [3, 3, 9]];
        int[] ids = prompts.Select(p => Admit(m, p).Id).ToArray();
        int[] cached = ids.Select(id => m.Table(id).Blocks[0]).ToArray();
        foreach (int i in new[] { 1, 0, 2 }) m.Free(ids[i]);             // freed in the order 1, 0, 2
        Assert.Equal(3, m.CachedBlocks);
        Assert.Equal(8, m.FreeBlocks);

        // Five free blocks go first: a 10-token prompt of new tokens takes them all, no eviction.
        (int big, _) = Admit(m, [7, 7, 7, 7, 7, 7, 7, 7, 7, 7]);
        Assert.Equal(3, m.CachedBlocks);
        Assert.Equal(0, m.Prefix!.Evictions);
        m.Free(big);                                                      // its five full blocks join the cache
        Assert.Equal(8, m.CachedBlocks);

        // Prompt 0 again: a hit on its cached block (taken back, not evicted); its last block evicts the least
        // recently freed one (prompt 1's), then two more blocks evict prompt 2's and the big prompt's first.
        (int again, int hit) = Admit(m, [1, 1, 9]);
        Assert.Equal(2, hit);
        Assert.Equal(cached[0], m.Table(again).Blocks[0]);
        Assert.Equal(1, m.Prefix.Evictions);
        Assert.False(m.Prefix.IsRegistered(cached[1]));
        Assert.True(m.Prefix.IsRegistered(cached[2]));
        (int other, _) = Admit(m, [5, 5, 5]);
        Assert.Equal(3, m.Prefix.Evictions);
        Assert.Equal(cached[2], m.Table(other).Blocks[0]);                // prompt 2's block, evicted and refilled
        Assert.Equal([5, 5], m.Prefix.TokensOf(cached[2]).ToArray());
        Assert.True(m.Prefix.IsRegistered(cached[0]));
        Assert.Equal(m.TotalBlocks, m.Pool.FreeCount + m.CachedBlocks + m.UsedBlocks);
        m.Free(again);
        m.Free(other);
    }

    private static (int Id, int Cached) Admit(KvCacheManager m, int[] prompt)
    {
        Assert.True(m.TryAdmit(prompt.Length, prompt, 0, 0, out int id, out int cached));
        return (id, cached);
    }
}
