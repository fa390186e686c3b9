using System.IO.Hashing;
using System.Runtime.InteropServices;
using FsCheck.Xunit;
using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>
/// Prefix caching under random admit (with shared prefixes) / append / fork / free runs, checked after every step
/// against a shadow record of what each registered block was filled with (the whole prefix up to its end):
/// a cached block's tokens and key are what that prefix says; a hit gives a sequence only blocks whose whole prefix
/// equals its own ids (so a collision can never corrupt it), in whole blocks, never its last token; only blocks no
/// table holds are evicted; free + cached + used = total; reference counts are the live tables' holdings; a failed
/// step changes nothing; and with caching off (or no ids) the manager is today's, step for step.
/// </summary>
public class PrefixCacheProperties
{
    [Property(MaxTest = 1500, Arbitrary = [typeof(PrefixArbitraries)])]
    public void CachedBlocksHoldWhatTheirKeysSayAndHitsAreWholeConfirmedBlocks(PrefixScenario s)
    {
        var m = new KvCacheManager(new KvCacheOptions(s.NumBlocks, s.BlockSize, s.MaxSequenceLength, PrefixCaching: true));
        PrefixCache cache = m.Prefix!;
        var live = new Dictionary<int, int[]>();            // running sequence → its known ids
        var order = new List<int>();
        var shadow = new Dictionary<int, (long Serial, int[] Prefix)>();
        int bs = s.BlockSize;
        foreach (PrefixOp op in s.Ops)
        {
            long[] serials = Enumerable.Range(0, s.NumBlocks).Select(cache.SerialOf).ToArray();
            int[] refs = Enumerable.Range(0, s.NumBlocks).Select(m.Pool.RefCount).ToArray();
            string before = ManagerSnapshot.Describe(m, 64);
            int seq = order.Count > 0 ? order[op.Target % order.Count] : -1;
            bool changed = true;
            switch (op.Kind)
            {
                case OpKind.Admit:
                    int[] ids = s.Bases[op.Base][..op.IdsLength];
                    int tokens = op.IdsLength + op.Extra;
                    if (!m.TryAdmit(tokens, ids, 1, 0, out int id, out int cached))
                    {
                        changed = false;
                        Assert.Equal(-1, id);
                        Assert.Equal(0, cached);
                        break;
                    }
                    Assert.Equal(0, cached % bs);                        // hits are whole blocks
                    Assert.True(cached <= Math.Min(ids.Length, tokens - 1), $"{cached} cached of {tokens} tokens, {ids.Length} ids");
                    ReadOnlySpan<int> blocks = m.Table(id).Blocks;
                    for (int b = 0; b < cached / bs; b++)
                        Assert.Equal(ids[..((b + 1) * bs)], shadow[blocks[b]].Prefix); // the K/V there was computed from this very prefix
                    live[id] = ids;
                    order.Add(id);
                    break;
                case OpKind.AppendOne or OpKind.AppendMany when seq >= 0:
                    try
                    {
                        m.Append(seq, op.Count);
                    }
                    catch (Exception e) when (e is OutOfBlocksException or ArgumentOutOfRangeException)
                    {
                        changed = false;
                    }
                    break;
                case OpKind.Fork when seq >= 0:
                    int child = m.Fork(seq);
                    live[child] = live[seq];
                    order.Add(child);
                    break;
                case OpKind.Free when seq >= 0:
                    m.Free(seq);
                    live.Remove(seq);
                    order.Remove(seq);
                    break;
                default:
                    changed = false;
                    break;
            }
            if (!changed)
            {
                Assert.Equal(before, ManagerSnapshot.Describe(m, 64));
                Assert.Equal(serials, Enumerable.Range(0, s.NumBlocks).Select(cache.SerialOf));
            }

            // Blocks registered by this step: their contents are the admitted sequence's ids up to their end.
            foreach ((int sequence, int[] ids) in live)
            {
                ReadOnlySpan<int> blocks = m.Table(sequence).Blocks;
                for (int b = 0; b < Math.Min(blocks.Length, ids.Length / bs); b++)
                {
                    int block = blocks[b];
                    if (cache.IsRegistered(block) && (!shadow.TryGetValue(block, out var known) || known.Serial != cache.SerialOf(block)))
                        shadow[block] = (cache.SerialOf(block), ids[..((b + 1) * bs)]);
                }
            }
            for (int block = 0; block < s.NumBlocks; block++)
            {
                if (serials[block] != 0 && cache.SerialOf(block) != serials[block])
                    Assert.True(refs[block] == 0, $"block {block} was evicted while {refs[block]} table(s) held it");
            }
            CheckInvariants(m, cache, live, shadow, bs);
        }
        foreach (int id in order) m.Free(id);
        Assert.Equal(0, m.UsedBlocks);
        Assert.Equal(s.NumBlocks, m.FreeBlocks);
        Assert.Equal(m.CachedBlocks, cache.RegisteredCount);
    }

    private static void CheckInvariants(KvCacheManager m, PrefixCache cache, Dictionary<int, int[]> live,
        Dictionary<int, (long Serial, int[] Prefix)> shadow, int bs)
    {
        Assert.Equal(m.TotalBlocks, m.Pool.FreeCount + m.CachedBlocks + m.UsedBlocks);
        Assert.Equal(m.CachedBlocks, cache.EvictableCount);
        var holders = new int[m.TotalBlocks];
        foreach (int sequence in live.Keys)
        {
            BlockTable table = m.Table(sequence);
            ReadOnlySpan<int> blocks = table.Blocks;
            for (int b = 0; b < blocks.Length; b++)
            {
                holders[blocks[b]]++;
                if (cache.IsRegistered(blocks[b]))
                {
                    Assert.True(table.TokenCount >= (b + 1) * bs, $"registered block {blocks[b]} is partial in sequence {sequence}");
                    int[] ids = live[sequence];
                    Assert.True(ids.Length >= (b + 1) * bs, $"registered block {blocks[b]} holds tokens sequence {sequence} does not know");
                    Assert.Equal(ids[..((b + 1) * bs)], shadow[blocks[b]].Prefix);
                }
            }
        }
        int registered = 0;
        for (int block = 0; block < m.TotalBlocks; block++)
        {
            Assert.Equal(holders[block], m.Pool.RefCount(block));
            bool isRegistered = cache.IsRegistered(block);
            Assert.Equal(isRegistered && holders[block] == 0, cache.IsEvictable(block));
            if (!isRegistered) continue;
            registered++;
            (long serial, int[] prefix) = shadow[block];
            Assert.Equal(serial, cache.SerialOf(block));
            Assert.Equal(prefix[^bs..], cache.TokensOf(block).ToArray());
            Assert.Equal(ChainKey(prefix, bs), cache.KeyOf(block));
        }
        Assert.Equal(registered, cache.RegisteredCount);
    }

    /// <summary>XxHash64 of each block's ids, seeded with the previous block's key, written out here independently.</summary>
    private static ulong ChainKey(int[] prefix, int bs)
    {
        ulong key = 0;
        for (int i = 0; i < prefix.Length; i += bs)
            key = XxHash64.HashToUInt64(MemoryMarshal.AsBytes(prefix.AsSpan(i, bs)), (long)key);
        return key;
    }

    /// <summary>
    /// Caching off: admitting with ids through <see cref="KvCacheManager.TryAdmit"/> is exactly today's
    /// <c>CanAdmit</c> + <c>Admit</c> (the manager the model-based tests check), step for step; so is caching on
    /// when no ids are given.
    /// </summary>
    [Property(MaxTest = 1500, Arbitrary = [typeof(PrefixArbitraries)])]
    public void CachingOffIsTodaysManagerExactly(PrefixScenario s)
    {
        var today = new KvCacheManager(new KvCacheOptions(s.NumBlocks, s.BlockSize, s.MaxSequenceLength));
        var off = new KvCacheManager(new KvCacheOptions(s.NumBlocks, s.BlockSize, s.MaxSequenceLength, PrefixCaching: false));
        var noIds = new KvCacheManager(new KvCacheOptions(s.NumBlocks, s.BlockSize, s.MaxSequenceLength, PrefixCaching: true));
        var order = new List<int>();
        foreach (PrefixOp op in s.Ops)
        {
            int seq = order.Count > 0 ? order[op.Target % order.Count] : -1;
            switch (op.Kind)
            {
                case OpKind.Admit:
                    int tokens = op.IdsLength + op.Extra;
                    bool fits = tokens + 1 <= s.MaxSequenceLength && today.CanAdmit(tokens + 1);
                    bool admitted = off.TryAdmit(tokens, s.Bases[op.Base][..op.IdsLength], 1, 0, out int id, out int cached);
                    Assert.Equal(fits, admitted);
                    Assert.Equal(fits, noIds.TryAdmit(tokens, [], 1, 0, out int id2, out int cached2));
                    Assert.Equal(0, cached + cached2);
                    if (!fits) break;
                    Assert.Equal(today.Admit(tokens), id);
                    Assert.Equal(id, id2);
                    order.Add(id);
                    break;
                case OpKind.AppendOne or OpKind.AppendMany when seq >= 0:
                    Exception? e1 = Record.Exception(() => today.Append(seq, op.Count));
                    Exception? e2 = Record.Exception(() => off.Append(seq, op.Count));
                    Exception? e3 = Record.Exception(() => noIds.Append(seq, op.Count));
                    Assert.Equal(e1?.GetType(), e2?.GetType());
                    Assert.Equal(e1?.GetType(), e3?.GetType());
                    break;
                case OpKind.Fork when seq >= 0:
                    int child = today.Fork(seq);
                    Assert.Equal(child, off.Fork(seq));
                    Assert.Equal(child, noIds.Fork(seq));
                    order.Add(child);
                    break;
                case OpKind.Free when seq >= 0:
                    today.Free(seq);
                    off.Free(seq);
                    noIds.Free(seq);
                    order.Remove(seq);
                    break;
            }
            string expected = ManagerSnapshot.Describe(today, 64);
            Assert.Equal(expected, ManagerSnapshot.Describe(off, 64));
            Assert.Equal(expected, ManagerSnapshot.Describe(noIds, 64));
            Assert.Equal(0, noIds.CachedBlocks);
        }
    }
}
