namespace PagedSim.Allocator;

/// <summary>
/// A fixed set of physical KV blocks with O(1) allocate and release (a stack of free ids) and reference counts,
/// so one block can sit in several sequences' tables (forked sequences share their prefix). A block whose last holder
/// lets go may instead be <em>parked</em>: reference count 0 but kept out of the free stack, because a
/// <see cref="PrefixCache"/> still offers its contents; <see cref="Revive"/> hands it out again.
/// </summary>
public sealed class BlockPool
{
    private readonly int[] _refCounts;
    private readonly int[] _free;     // free block ids; the top is _free[_freeCount - 1]
    private int _freeCount;
    private int _parkedCount;         // blocks with reference count 0 kept out of the free stack
    private readonly Random? _random; // set only for the seed's policy: a random free block, not the most recent

    /// <summary>Creates a pool of <paramref name="capacity"/> blocks, all free.</summary>
    /// <param name="capacity">Number of physical blocks.</param>
    /// <param name="random">When given, <see cref="Allocate"/> takes a uniformly random free block (the seed's
    /// policy); otherwise the most recently released one (cache-friendly, deterministic).</param>
    public BlockPool(int capacity, Random? random = null)
    {
        if (capacity < 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "Block count must not be negative.");
        _refCounts = new int[capacity];
        _free = new int[capacity];
        // Lowest id on top, so a fresh pool hands out 0, 1, 2, ...
        for (int i = 0; i < capacity; i++) _free[i] = capacity - 1 - i;
        _freeCount = capacity;
        _random = random;
    }

    /// <summary>Total physical blocks.</summary>
    public int Capacity => _refCounts.Length;

    /// <summary>Blocks not held by any table.</summary>
    public int FreeCount => _freeCount;

    /// <summary>Blocks no table holds that are kept for their contents (see <see cref="Release(int, bool)"/>).</summary>
    public int ParkedCount => _parkedCount;

    /// <summary>Blocks held by at least one table.</summary>
    public int UsedCount => _refCounts.Length - _freeCount - _parkedCount;

    /// <summary>How many tables hold <paramref name="block"/> (0 when free).</summary>
    public int RefCount(int block) => _refCounts[block];

    /// <summary>Takes a free block with reference count 1. The caller checks <see cref="FreeCount"/> first.</summary>
    /// <exception cref="OutOfBlocksException">No block is free.</exception>
    public int Allocate()
    {
        if (_freeCount == 0) throw new OutOfBlocksException(1, 0, Capacity);
        if (_random is not null)
        {
            // Swap a random free id onto the top, then pop: still O(1).
            int pick = _random.Next(_freeCount);
            (_free[pick], _free[_freeCount - 1]) = (_free[_freeCount - 1], _free[pick]);
        }
        int block = _free[--_freeCount];
        _refCounts[block] = 1;
        return block;
    }

    /// <summary>Adds a holder to an allocated block (a fork shares it).</summary>
    public void Retain(int block)
    {
        if (_refCounts[block] <= 0) throw new InvalidOperationException($"Block {block} is free and cannot be shared.");
        _refCounts[block]++;
    }

    /// <summary>Drops a holder; the block returns to the free stack when none is left.</summary>
    /// <returns>True when the block became free.</returns>
    public bool Release(int block) => Release(block, park: false);

    /// <summary>Drops a holder; when none is left the block returns to the free stack, or with
    /// <paramref name="park"/> is parked (no holder, not free) until <see cref="Revive"/>.</summary>
    /// <returns>True when the last holder let go.</returns>
    public bool Release(int block, bool park)
    {
        if (_refCounts[block] <= 0) throw new InvalidOperationException($"Block {block} is already free.");
        if (--_refCounts[block] > 0) return false;
        if (park) _parkedCount++;
        else _free[_freeCount++] = block;
        return true;
    }

    /// <summary>Hands out a parked block again with reference count 1 (a prefix-cache hit, or an eviction that
    /// reuses it for new contents).</summary>
    public void Revive(int block)
    {
        if (_refCounts[block] != 0 || _parkedCount == 0) throw new InvalidOperationException($"Block {block} is not parked.");
        _parkedCount--;
        _refCounts[block] = 1;
    }
}
