namespace PagedSim.Allocator;

/// <summary>
/// One sequence's logical-to-physical block map and token count. ONE table serves every layer: block b of the
/// sequence holds tokens [b × blockSize, (b + 1) × blockSize) of all layers in physical block <c>Blocks[b]</c>.
/// Owned and mutated only by <see cref="KvCacheManager"/>; tables are reused when sequence ids are.
/// </summary>
public sealed class BlockTable
{
    private readonly int[] _blocks;

    internal BlockTable(int maxBlocks) => _blocks = new int[maxBlocks];

    /// <summary>Physical block ids, in logical order.</summary>
    public ReadOnlySpan<int> Blocks => _blocks.AsSpan(0, BlockCount);

    /// <summary>Number of blocks held.</summary>
    public int BlockCount { get; private set; }

    /// <summary>Tokens stored (prompt plus generated).</summary>
    public int TokenCount { get; internal set; }

    /// <summary>The last block held, or -1 when none.</summary>
    public int LastBlock => BlockCount == 0 ? -1 : _blocks[BlockCount - 1];

    internal void Add(int block) => _blocks[BlockCount++] = block;

    internal void ReplaceLast(int block) => _blocks[BlockCount - 1] = block;

    internal void Truncate(int blockCount) => BlockCount = blockCount;

    internal void Reset()
    {
        BlockCount = 0;
        TokenCount = 0;
    }
}
