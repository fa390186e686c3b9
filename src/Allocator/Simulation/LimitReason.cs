namespace PagedSim.Allocator.Simulation;

/// <summary>What stops a batch from growing (or a run from completing).</summary>
public enum LimitReason
{
    /// <summary>Nothing: it fits.</summary>
    None,

    /// <summary>Paged: the blocks that fit beside weights and overheads ran out (or the seed's pool does not fit).</summary>
    Memory,

    /// <summary>Paged with the seed's settings: its fixed pool of (max length / block size) × 5 blocks ran out.</summary>
    SeedPool,

    /// <summary>Naive: one more max-length reservation does not fit beside weights and overheads.</summary>
    MaxLengthReservations,

    /// <summary>Weights and overheads alone leave no room for any KV cache.</summary>
    WeightsDoNotFit,

    /// <summary>A request can never run: its tokens need more blocks than the whole pool.</summary>
    RequestTooLarge,

    /// <summary>The search stopped at its upper limit; the true maximum may be higher.</summary>
    SearchLimit,
}
