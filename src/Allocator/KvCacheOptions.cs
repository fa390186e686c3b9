namespace PagedSim.Allocator;

/// <summary>Immutable settings of a <see cref="KvCacheManager"/>.</summary>
/// <param name="NumBlocks">Physical blocks in the pool (shared by all layers: one block holds a token range of every layer).</param>
/// <param name="BlockSize">Token slots per block.</param>
/// <param name="MaxSequenceLength">Longest sequence in tokens; sets the width of the dense block table.</param>
/// <param name="Policy">Block choice and release policy.</param>
/// <param name="Seed">Random seed for <see cref="AllocationPolicy.SeedCompatible"/>.</param>
/// <param name="PrefixCaching">Automatic prefix caching (<see cref="PrefixCache"/>): full blocks of known token ids
/// stay cached after their sequence ends and are reused by a later sequence starting with the same tokens. Off, the
/// manager behaves exactly as without it.</param>
public sealed record KvCacheOptions(
    int NumBlocks,
    int BlockSize,
    int MaxSequenceLength = 8192,
    AllocationPolicy Policy = AllocationPolicy.Default,
    int Seed = 0,
    bool PrefixCaching = false)
{
    /// <summary>Width of the dense block table: blocks the longest sequence needs.</summary>
    public int MaxBlocksPerSequence => (int)(((long)MaxSequenceLength + BlockSize - 1) / BlockSize); // long: no overflow near int.MaxValue

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (BlockSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "Block size must be a positive number of tokens.");
        if (NumBlocks < 0)
            throw new ArgumentOutOfRangeException(nameof(NumBlocks), NumBlocks, "Block count must not be negative.");
        if (MaxSequenceLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(MaxSequenceLength), MaxSequenceLength, "Max sequence length must be positive.");
        if (PrefixCaching && Policy == AllocationPolicy.SeedCompatible)
            throw new ArgumentException("Prefix caching applies to the default policy only, not the seed's.", nameof(PrefixCaching));
    }
}
