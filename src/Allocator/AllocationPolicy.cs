namespace PagedSim.Allocator;

/// <summary>How the cache manager picks and returns blocks.</summary>
public enum AllocationPolicy
{
    /// <summary>Most recently freed block first; a finished sequence returns every block.</summary>
    Default,

    /// <summary>
    /// The seed project's policy (llama3-paged.py), kept to reproduce its figures: a uniformly random free block,
    /// and a finished sequence keeps its first block (it stays "retired" and still counts in the seed's
    /// fragmentation formula).
    /// </summary>
    SeedCompatible,
}
