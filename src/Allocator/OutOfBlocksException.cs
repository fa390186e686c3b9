namespace PagedSim.Allocator;

/// <summary>
/// Thrown when an operation needs more free KV blocks than the pool has. The manager is left exactly as it was.
/// </summary>
public sealed class OutOfBlocksException : InvalidOperationException
{
    /// <summary>Creates the exception with the figures the message reports.</summary>
    public OutOfBlocksException(int needed, int free, int total)
        : base($"Out of KV blocks: the operation needs {needed} block(s) but only {free} of {total} are free.")
    {
        Needed = needed;
        Free = free;
        Total = total;
    }

    /// <summary>Blocks the failed operation needed.</summary>
    public int Needed { get; }

    /// <summary>Blocks that were free.</summary>
    public int Free { get; }

    /// <summary>Blocks in the pool.</summary>
    public int Total { get; }
}
