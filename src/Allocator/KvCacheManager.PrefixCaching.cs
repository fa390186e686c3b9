namespace PagedSim.Allocator;

// Admission with prefix caching: the lookup in the PrefixCache, reuse of the hit blocks, registration of the new
// full blocks, and allocation that evicts a cached block only when none is free.
public sealed partial class KvCacheManager
{
    /// <summary>
    /// Admits a sequence of <paramref name="tokens"/> tokens whose first <c>ids.Length</c> token ids are known, if
    /// its blocks for <paramref name="tokens"/> + <paramref name="reserveTokens"/> tokens fit while leaving
    /// <paramref name="watermarkBlocks"/> free. With prefix caching, the longest prefix of full blocks of
    /// <paramref name="ids"/> found in the cache is reused (reference counts up; never the block holding the last
    /// token, which a prefill must compute), and the new full blocks of <paramref name="ids"/> are registered.
    /// Without it, this is <see cref="CanAdmit"/>(tokens + reserveTokens) then <see cref="Admit(int)"/>.
    /// </summary>
    /// <param name="tokens">Tokens the sequence holds (a prompt, plus tokens generated before a preemption).</param>
    /// <param name="ids">The known ids of its first tokens (at most <paramref name="tokens"/>); may be empty.</param>
    /// <param name="reserveTokens">Further tokens whose blocks must fit too (a step's first generated token).</param>
    /// <param name="watermarkBlocks">Blocks to leave free.</param>
    /// <param name="sequence">The new sequence's id, or -1.</param>
    /// <param name="cachedTokens">Tokens whose K/V came from the cache (a multiple of the block size), or 0.</param>
    /// <returns>False when it does not fit; nothing changed then.</returns>
    public bool TryAdmit(int tokens, ReadOnlySpan<int> ids, int reserveTokens, int watermarkBlocks, out int sequence, out int cachedTokens)
    {
        if (tokens <= 0) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "Prompt length must be positive.");
        if (ids.Length > tokens) throw new ArgumentException($"{ids.Length} ids given for {tokens} tokens.", nameof(ids));
        ArgumentOutOfRangeException.ThrowIfNegative(reserveTokens);
        ArgumentOutOfRangeException.ThrowIfNegative(watermarkBlocks);
        (sequence, cachedTokens) = (-1, 0);
        if ((long)tokens + reserveTokens > Options.MaxSequenceLength) return false;
        int hits = FindCached(tokens, ids);
        int revived = 0;
        for (int b = 0; b < hits; b++) if (_pool.RefCount(_hitBlocks[b]) == 0) revived++;
        if (BlocksFor(tokens + reserveTokens) - hits + revived + watermarkBlocks > FreeBlocks) return false;
        sequence = AdmitWithHits(tokens, ids, hits);
        cachedTokens = hits * BlockSize;
        return true;
    }

    /// <summary>Matches the longest cached prefix of full blocks of <paramref name="ids"/> into <c>_hitBlocks</c>.</summary>
    private int FindCached(int tokens, ReadOnlySpan<int> ids)
    {
        if (_prefix is null) return 0;
        int limit = Math.Min(ids.Length, tokens - 1) / BlockSize; // the last token is always computed
        ulong key = 0;
        long parent = 0;
        int n = 0;
        for (; n < limit; n++)
        {
            ReadOnlySpan<int> chunk = ids.Slice(n * BlockSize, BlockSize);
            key = PrefixCache.Key(key, chunk);
            int block = _prefix.Find(key, parent, chunk);
            if (block < 0) break;
            _hitBlocks[n] = block;
            parent = _prefix.SerialOf(block);
        }
        return n;
    }

    private int AdmitWithHits(int tokens, ReadOnlySpan<int> ids, int hits)
    {
        if (_prefix is null) return Admit(tokens);
        int id = NewId();
        BlockTable table = _tables[id];
        int row = AddRow(id);
        int rowStart = row * MaxBlocksPerSequence;
        for (int b = 0; b < hits; b++)
        {
            int block = _hitBlocks[b];
            if (_pool.RefCount(block) == 0)
            {
                _prefix.Take(block);
                _pool.Revive(block);
                _blockFill[block] = BlockSize;
                _filledSlots += BlockSize;
            }
            else _pool.Retain(block);
            table.Add(block);
            _dense[rowStart + b] = block;
        }
        int needed = BlocksFor(tokens);
        for (int b = hits; b < needed; b++)
        {
            int block = AllocateBlock();
            _blockFill[block] = Math.Min(BlockSize, tokens - b * BlockSize);
            table.Add(block);
            _dense[rowStart + b] = block;
        }
        table.TokenCount = tokens;
        _denseLengths[row] = tokens;
        _filledSlots += tokens - (long)hits * BlockSize;

        // Register the new full blocks of known ids, chained to the one before; stop where the chain breaks (a
        // block whose prefix another block already caches stays private).
        ulong key = hits > 0 ? _prefix.KeyOf(_hitBlocks[hits - 1]) : 0;
        long parent = hits > 0 ? _prefix.SerialOf(_hitBlocks[hits - 1]) : 0;
        ReadOnlySpan<int> blocks = table.Blocks;
        for (int b = hits; b < ids.Length / BlockSize; b++)
        {
            ReadOnlySpan<int> chunk = ids.Slice(b * BlockSize, BlockSize);
            key = PrefixCache.Key(key, chunk);
            if (!_prefix.Register(blocks[b], key, parent, chunk)) break;
            parent = _prefix.SerialOf(blocks[b]);
        }
        return id;
    }

    private int AllocateBlock()
    {
        if (_prefix is null || _pool.FreeCount > 0) return _pool.Allocate();
        // No free block: evict the least recently used cached one (callers checked FreeBlocks, which counts it).
        int block = _prefix.EvictOldest();
        _pool.Revive(block);
        return block;
    }
}
