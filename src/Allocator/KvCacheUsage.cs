namespace PagedSim.Allocator;

/// <summary>A snapshot of a cache's occupancy, in blocks, token slots and bytes.</summary>
/// <param name="TotalBlocks">Blocks in the pool.</param>
/// <param name="UsedBlocks">Blocks held by at least one sequence.</param>
/// <param name="ReservedSlots">Token slots in used blocks (shared blocks counted once).</param>
/// <param name="FilledSlots">Reserved slots that hold a token's K/V.</param>
/// <param name="BytesPerSlot">Bytes of one token slot across all layers.</param>
public readonly record struct KvCacheUsage(int TotalBlocks, int UsedBlocks, long ReservedSlots, long FilledSlots, long BytesPerSlot)
{
    /// <summary>Blocks nobody holds.</summary>
    public int FreeBlocks => TotalBlocks - UsedBlocks;

    /// <summary>Reserved but empty slots: internal fragmentation.</summary>
    public long FragmentedSlots => ReservedSlots - FilledSlots;

    /// <summary>Bytes of reserved slots.</summary>
    public long ReservedBytes => ReservedSlots * BytesPerSlot;

    /// <summary>Bytes of filled slots.</summary>
    public long FilledBytes => FilledSlots * BytesPerSlot;

    /// <summary>Bytes of reserved but empty slots.</summary>
    public long FragmentedBytes => FragmentedSlots * BytesPerSlot;

    /// <summary>Share of reserved KV memory that holds token states (the vLLM paper's Figure 2 measure), 0–1.</summary>
    public double Utilization => ReservedSlots == 0 ? 1.0 : (double)FilledSlots / ReservedSlots;
}
