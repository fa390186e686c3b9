namespace PagedSim.Allocator;

/// <summary>
/// The PagedAttention cache manager: one <see cref="BlockPool"/>, one <see cref="BlockTable"/> per sequence (for all
/// layers), and a dense <c>int32</c> block table [rows × <see cref="MaxBlocksPerSequence"/>] for attention kernels,
/// kept up to date as blocks are added and sequences leave, never rebuilt.
/// </summary>
/// <remarks>
/// Every operation is atomic: it either succeeds or throws and leaves the manager unchanged. Running sequences occupy
/// rows 0..<see cref="RunningCount"/>-1 of the dense view; when one leaves, the last row moves into its place, so the
/// batch a kernel sees is always dense (use <see cref="RowOf"/> and <see cref="SequenceAt"/> to map).
/// With <see cref="KvCacheOptions.PrefixCaching"/>, a <see cref="PrefixCache"/> beside the pool keeps the full blocks
/// of known token ids after their sequences end: <see cref="TryAdmit"/> reuses the longest cached prefix, and a block
/// is evicted (least recently used first) only when the free stack is empty.
/// </remarks>
public sealed partial class KvCacheManager
{
    private const int Vacant = 0, Running = 1, Retired = 2;

    private readonly BlockPool _pool;
    private readonly PrefixCache? _prefix;    // null when prefix caching is off
    private readonly int[] _hitBlocks;        // scratch: the cached blocks a lookup matched
    private readonly int[] _blockFill;        // filled token slots of each physical block
    private long _filledSlots;                // sum of _blockFill over used blocks
    private BlockTable[] _tables = [];        // by sequence id; reused when ids are
    private int[] _state = [];                // Vacant / Running / Retired, by sequence id
    private int[] _rowOf = [];                // dense row of a running sequence, by id
    private int[] _freeIds = [];              // stack of reusable ids
    private int _freeIdCount;
    private int _idCount;                     // ids ever handed out
    private int[] _sequenceAtRow = [];
    private int[] _dense = [];                // rows × MaxBlocksPerSequence, -1 where no block
    private int[] _denseLengths = [];         // tokens per row
    private int _rowCount;
    private int _retiredCount;

    /// <summary>Creates a manager with every block free.</summary>
    public KvCacheManager(KvCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        BlockSize = options.BlockSize;
        MaxBlocksPerSequence = options.MaxBlocksPerSequence;
        _pool = new BlockPool(options.NumBlocks,
            options.Policy == AllocationPolicy.SeedCompatible ? new Random(options.Seed) : null);
        _blockFill = new int[options.NumBlocks];
        if (options.PrefixCaching) _prefix = new PrefixCache(options.NumBlocks, options.BlockSize);
        _hitBlocks = new int[options.PrefixCaching ? MaxBlocksPerSequence : 0];
        Grow(16);
    }

    /// <summary>The settings this manager was made with.</summary>
    public KvCacheOptions Options { get; }

    /// <summary>Token slots per block.</summary>
    public int BlockSize { get; }

    /// <summary>Width of the dense block table.</summary>
    public int MaxBlocksPerSequence { get; }

    /// <summary>Blocks in the pool.</summary>
    public int TotalBlocks => _pool.Capacity;

    /// <summary>Blocks no sequence holds: free ones, plus cached ones that can be evicted (prefix caching).</summary>
    public int FreeBlocks => _pool.FreeCount + _pool.ParkedCount;

    /// <summary>Blocks no sequence holds that keep cached contents (evictable, least recently used first); 0 when
    /// prefix caching is off.</summary>
    public int CachedBlocks => _pool.ParkedCount;

    /// <summary>The prefix cache's index, or null when prefix caching is off.</summary>
    public PrefixCache? Prefix => _prefix;

    /// <summary>Blocks held by at least one sequence (running or retired).</summary>
    public int UsedBlocks => _pool.UsedCount;

    /// <summary>Sequences that can still grow; they fill rows 0..RunningCount-1 of the dense view.</summary>
    public int RunningCount => _rowCount;

    /// <summary>Finished sequences that still hold a block (only under <see cref="AllocationPolicy.SeedCompatible"/>).</summary>
    public int RetiredCount => _retiredCount;

    /// <summary>Token slots in used blocks (shared blocks counted once).</summary>
    public long ReservedSlots => (long)_pool.UsedCount * BlockSize;

    /// <summary>Reserved slots holding a token.</summary>
    public long FilledSlots => _filledSlots;

    /// <summary>The pool, for reference counts.</summary>
    public BlockPool Pool => _pool;

    /// <summary>Dense block table, row-major [RunningCount × MaxBlocksPerSequence]; -1 past a sequence's last block.</summary>
    public ReadOnlySpan<int> DenseBlockTable => _dense.AsSpan(0, _rowCount * MaxBlocksPerSequence);

    /// <summary>Tokens of each running sequence, by dense row.</summary>
    public ReadOnlySpan<int> DenseSequenceLengths => _denseLengths.AsSpan(0, _rowCount);

    /// <summary>Blocks needed to hold <paramref name="tokens"/> tokens.</summary>
    public int BlocksFor(int tokens) => (int)(((long)tokens + BlockSize - 1) / BlockSize);

    /// <summary>Whether a new sequence of <paramref name="promptTokens"/> fits while leaving
    /// <paramref name="watermarkBlocks"/> blocks free.</summary>
    public bool CanAdmit(int promptTokens, int watermarkBlocks = 0)
    {
        if (promptTokens <= 0) throw new ArgumentOutOfRangeException(nameof(promptTokens), promptTokens, "Prompt length must be positive.");
        if (watermarkBlocks < 0) throw new ArgumentOutOfRangeException(nameof(watermarkBlocks), watermarkBlocks, "Watermark must not be negative.");
        if (promptTokens > Options.MaxSequenceLength) return false;
        return BlocksFor(promptTokens) + watermarkBlocks <= FreeBlocks;
    }

    /// <summary>Admits a new sequence holding <paramref name="promptTokens"/> tokens and returns its id.</summary>
    /// <exception cref="OutOfBlocksException">Too few blocks are free; nothing changed.</exception>
    public int Admit(int promptTokens)
    {
        if (promptTokens <= 0) throw new ArgumentOutOfRangeException(nameof(promptTokens), promptTokens, "Prompt length must be positive.");
        CheckLength(promptTokens, nameof(promptTokens));
        int needed = BlocksFor(promptTokens);
        if (needed > FreeBlocks) throw new OutOfBlocksException(needed, FreeBlocks, TotalBlocks);

        int id = NewId();
        BlockTable table = _tables[id];
        int row = AddRow(id);
        for (int b = 0; b < needed; b++)
        {
            int block = AllocateBlock();
            int fill = Math.Min(BlockSize, promptTokens - b * BlockSize);
            _blockFill[block] = fill;
            table.Add(block);
            _dense[row * MaxBlocksPerSequence + b] = block;
        }
        table.TokenCount = promptTokens;
        _denseLengths[row] = promptTokens;
        _filledSlots += promptTokens;
        return id;
    }

    /// <summary>Appends one token; allocates a block only when the last one is full (or shared).</summary>
    /// <returns>The copy to make first when the last block was shared (copy-on-write), else <see cref="BlockCopy.None"/>.</returns>
    public BlockCopy Append(int sequence)
    {
        BlockTable table = RunningTable(sequence);
        int last = table.LastBlock;
        int lastFill = table.TokenCount - (table.BlockCount - 1) * BlockSize;
        if (lastFill < BlockSize && _pool.RefCount(last) == 1 && table.TokenCount < Options.MaxSequenceLength)
        {
            // Hot path: room in an unshared last block.
            table.TokenCount++;
            _blockFill[last]++;
            _filledSlots++;
            _denseLengths[_rowOf[sequence]]++;
            return BlockCopy.None;
        }
        return AppendSlow(sequence, table, 1, nameof(sequence));
    }

    /// <summary>Appends <paramref name="count"/> tokens (a prefill chunk or speculative tokens), atomically.</summary>
    public BlockCopy Append(int sequence, int count)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Token count to append must be positive.");
        return AppendSlow(sequence, RunningTable(sequence), count, nameof(count));
    }

    private BlockCopy AppendSlow(int sequence, BlockTable table, int count, string countParam)
    {
        int tokens = table.TokenCount;
        CheckLength((long)tokens + count, countParam);
        int lastFill = tokens - (table.BlockCount - 1) * BlockSize;
        int last = table.LastBlock;
        bool copyOnWrite = lastFill < BlockSize && _pool.RefCount(last) > 1;
        int newBlocks = BlocksFor(tokens + count) - table.BlockCount;
        int needed = newBlocks + (copyOnWrite ? 1 : 0);
        if (needed > FreeBlocks) throw new OutOfBlocksException(needed, FreeBlocks, TotalBlocks);

        int row = _rowOf[sequence];
        int rowStart = row * MaxBlocksPerSequence;
        BlockCopy copy = BlockCopy.None;
        if (copyOnWrite)
        {
            // The shared partial block will be written: give this sequence its own copy.
            int fresh = AllocateBlock();
            _blockFill[fresh] = lastFill;
            _filledSlots += lastFill;
            ReleaseBlock(last);
            table.ReplaceLast(fresh);
            _dense[rowStart + table.BlockCount - 1] = fresh;
            copy = new BlockCopy(last, fresh);
            last = fresh;
        }

        int remaining = count;
        if (lastFill < BlockSize)
        {
            int into = Math.Min(remaining, BlockSize - lastFill);
            _blockFill[last] += into;
            remaining -= into;
        }
        for (int b = 0; b < newBlocks; b++)
        {
            int block = AllocateBlock();
            int fill = Math.Min(BlockSize, remaining);
            _blockFill[block] = fill;
            remaining -= fill;
            _dense[rowStart + table.BlockCount] = block;
            table.Add(block);
        }
        table.TokenCount = tokens + count;
        _denseLengths[row] = tokens + count;
        _filledSlots += count;
        return copy;
    }

    /// <summary>
    /// Forks a running sequence: the child shares every block of the parent (reference counts rise, no block is
    /// allocated); whichever of the two first writes into a shared partial block gets its own copy.
    /// </summary>
    /// <returns>The child's id.</returns>
    public int Fork(int parent)
    {
        BlockTable source = RunningTable(parent);
        int child = NewId();
        BlockTable table = _tables[child];
        int row = AddRow(child);
        int rowStart = row * MaxBlocksPerSequence;
        foreach (int block in source.Blocks)
        {
            _pool.Retain(block);
            _dense[rowStart + table.BlockCount] = block;
            table.Add(block);
        }
        table.TokenCount = source.TokenCount;
        _denseLengths[row] = source.TokenCount;
        return child;
    }

    /// <summary>
    /// Frees a finished sequence. Under the default policy every block returns to the pool and the id may be reused;
    /// under <see cref="AllocationPolicy.SeedCompatible"/> the sequence keeps its first block, as the seed does.
    /// </summary>
    public void Free(int sequence)
    {
        BlockTable table = RunningTable(sequence);
        RemoveRow(sequence);
        if (Options.Policy == AllocationPolicy.SeedCompatible)
        {
            ReleaseFrom(table, 1);
            table.TokenCount = Math.Min(table.TokenCount, BlockSize);
            _state[sequence] = Retired;
            _retiredCount++;
            return;
        }
        ReleaseFrom(table, 0);
        table.Reset();
        _state[sequence] = Vacant;
        _freeIds[_freeIdCount++] = sequence;
    }

    /// <summary>The table of a running or retired sequence.</summary>
    public BlockTable Table(int sequence)
    {
        if ((uint)sequence >= (uint)_idCount || _state[sequence] == Vacant) throw Unknown(sequence);
        return _tables[sequence];
    }

    /// <summary>Whether <paramref name="sequence"/> is running (admitted or forked, not freed).</summary>
    public bool IsRunning(int sequence) => (uint)sequence < (uint)_idCount && _state[sequence] == Running;

    /// <summary>The dense row of a running sequence.</summary>
    public int RowOf(int sequence)
    {
        RunningTable(sequence);
        return _rowOf[sequence];
    }

    /// <summary>The running sequence in dense row <paramref name="row"/>.</summary>
    public int SequenceAt(int row)
    {
        if ((uint)row >= (uint)_rowCount) throw new ArgumentOutOfRangeException(nameof(row), row, $"Row must be below the {_rowCount} running sequence(s).");
        return _sequenceAtRow[row];
    }

    /// <summary>Ids of running sequences, in dense-row order.</summary>
    public ReadOnlySpan<int> RunningSequences => _sequenceAtRow.AsSpan(0, _rowCount);

    /// <summary>Occupancy, in bytes through <paramref name="layout"/>.</summary>
    public KvCacheUsage Usage(KvLayout layout) =>
        new(TotalBlocks, UsedBlocks, ReservedSlots, FilledSlots, layout.BytesPerToken);

    /// <summary>
    /// The seed's fragmentation figure (<c>get_fragmented_memory_size</c> in llama3-paged.py, summed over layers):
    /// for every table, running or retired, the empty slots of its last block, in bytes.
    /// </summary>
    public long SeedFragmentedBytes(KvLayout layout)
    {
        long slots = 0;
        for (int id = 0; id < _idCount; id++)
        {
            if (_state[id] == Vacant) continue;
            BlockTable t = _tables[id];
            slots += BlockSize - (t.TokenCount - (t.BlockCount - 1) * BlockSize);
        }
        return slots * layout.BytesPerToken;
    }

    private BlockTable RunningTable(int sequence)
    {
        if ((uint)sequence >= (uint)_idCount || _state[sequence] != Running) throw Unknown(sequence);
        return _tables[sequence];
    }

    private ArgumentException Unknown(int sequence) =>
        (uint)sequence < (uint)_idCount && _state[sequence] == Retired
            ? new ArgumentException($"Sequence {sequence} has finished and can no longer change.", nameof(sequence))
            : new ArgumentException($"Unknown sequence {sequence}: it was never admitted or has been freed.", nameof(sequence));

    private void CheckLength(long tokens, string paramName)
    {
        // Names the caller's argument; the value shown is the length the sequence would reach.
        if (tokens > Options.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(paramName, tokens, $"A sequence may hold at most {Options.MaxSequenceLength} tokens.");
    }

    private void ReleaseFrom(BlockTable table, int keep)
    {
        ReadOnlySpan<int> blocks = table.Blocks;
        for (int b = keep; b < blocks.Length; b++) ReleaseBlock(blocks[b]);
        table.Truncate(Math.Min(keep, blocks.Length));
    }

    private void ReleaseBlock(int block)
    {
        // A block with cached contents is parked (evictable) rather than freed.
        bool park = _prefix is not null && _prefix.IsRegistered(block);
        if (_pool.Release(block, park))
        {
            _filledSlots -= _blockFill[block];
            _blockFill[block] = 0;
            if (park) _prefix!.MakeEvictable(block);
        }
    }

    private int NewId()
    {
        if (_freeIdCount > 0)
        {
            int reused = _freeIds[--_freeIdCount];
            _state[reused] = Running;
            return reused;
        }
        if (_idCount == _tables.Length) Grow(_tables.Length * 2);
        int id = _idCount++;
        _tables[id] ??= new BlockTable(MaxBlocksPerSequence);
        _state[id] = Running;
        return id;
    }

    private int AddRow(int sequence)
    {
        if (_rowCount == _sequenceAtRow.Length) GrowRows(_sequenceAtRow.Length * 2);
        int row = _rowCount++;
        _rowOf[sequence] = row;
        _sequenceAtRow[row] = sequence;
        _denseLengths[row] = 0;
        return row;
    }

    private void RemoveRow(int sequence)
    {
        int row = _rowOf[sequence];
        int last = --_rowCount;
        Span<int> dense = _dense;
        if (row != last)
        {
            // Move the last row into the hole: the view stays dense without touching other rows.
            int moved = _sequenceAtRow[last];
            dense.Slice(last * MaxBlocksPerSequence, MaxBlocksPerSequence).CopyTo(dense.Slice(row * MaxBlocksPerSequence, MaxBlocksPerSequence));
            _denseLengths[row] = _denseLengths[last];
            _sequenceAtRow[row] = moved;
            _rowOf[moved] = row;
        }
        dense.Slice(last * MaxBlocksPerSequence, MaxBlocksPerSequence).Fill(-1);
        _rowOf[sequence] = -1;
    }

    private void Grow(int ids)
    {
        Array.Resize(ref _tables, ids);
        Array.Resize(ref _state, ids);
        Array.Resize(ref _rowOf, ids);
        Array.Resize(ref _freeIds, ids);
        if (_sequenceAtRow.Length < ids) GrowRows(ids);
    }

    private void GrowRows(int rows)
    {
        int oldLength = _dense.Length;
        Array.Resize(ref _dense, rows * MaxBlocksPerSequence);
        _dense.AsSpan(oldLength).Fill(-1);
        Array.Resize(ref _sequenceAtRow, rows);
        Array.Resize(ref _denseLengths, rows);
    }
}
