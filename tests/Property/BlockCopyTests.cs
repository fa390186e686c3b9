using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>Fork and copy-on-write, worked by hand on a fresh pool (blocks are handed out 0, 1, 2, ...).</summary>
public class BlockCopyTests
{
    private static KvCacheManager Manager(int blocks = 8) =>
        new(new KvCacheOptions(NumBlocks: blocks, BlockSize: 4, MaxSequenceLength: 32));

    [Fact]
    public void NoneNeedsNoCopy()
    {
        Assert.False(BlockCopy.None.IsNeeded);
        Assert.Equal((-1, -1), (BlockCopy.None.Source, BlockCopy.None.Destination));
        Assert.True(new BlockCopy(3, 5).IsNeeded);
    }

    [Fact]
    public void WritingASharedPartialBlockCopiesIt()
    {
        KvCacheManager m = Manager();
        int parent = m.Admit(6);               // blocks 0 (4 tokens), 1 (2 tokens)
        int child = m.Fork(parent);
        Assert.Equal(2, m.UsedBlocks);         // a fork allocates nothing
        Assert.Equal([0, 1], m.Table(child).Blocks.ToArray());
        Assert.Equal(2, m.Pool.RefCount(1));

        BlockCopy copy = m.Append(child);       // writes slot 2 of block 1, which the parent holds too
        Assert.Equal(new BlockCopy(1, 2), copy);
        Assert.Equal([0, 2], m.Table(child).Blocks.ToArray());
        Assert.Equal([0, 1], m.Table(parent).Blocks.ToArray());
        Assert.Equal((2, 1, 1), (m.Pool.RefCount(0), m.Pool.RefCount(1), m.Pool.RefCount(2)));
        Assert.Equal(4 + 2 + 3, m.FilledSlots); // block 0, the parent's block 1, the child's copy with one more token

        Assert.Equal(BlockCopy.None, m.Append(parent)); // block 1 is the parent's alone now
        Assert.Equal(3, m.UsedBlocks);
    }

    [Fact]
    public void ASharedFullBlockIsNotCopied()
    {
        KvCacheManager m = Manager();
        int parent = m.Admit(4);               // block 0, full
        int child = m.Fork(parent);
        Assert.Equal(BlockCopy.None, m.Append(child)); // the token goes to a new block 1
        Assert.Equal([0, 1], m.Table(child).Blocks.ToArray());
        Assert.Equal(2, m.Pool.RefCount(0));
    }

    [Fact]
    public void AppendingManyTokensCopiesOnceThenAddsBlocks()
    {
        KvCacheManager m = Manager();
        int parent = m.Admit(5);               // blocks 0, 1 (1 token)
        int child = m.Fork(parent);
        BlockCopy copy = m.Append(child, 8);    // 13 tokens: copy of block 1 → 2, then block 3, 4
        Assert.Equal(new BlockCopy(1, 2), copy);
        Assert.Equal([0, 2, 3, 4], m.Table(child).Blocks.ToArray());
        Assert.Equal(13, m.Table(child).TokenCount);
        Assert.Equal(5 + 13 - 4, m.FilledSlots); // block 0 is shared and counted once
    }

    [Fact]
    public void FreeingTheParentLeavesTheChildSole()
    {
        KvCacheManager m = Manager();
        int parent = m.Admit(6);
        int child = m.Fork(parent);
        m.Free(parent);
        Assert.Equal((1, 1), (m.Pool.RefCount(0), m.Pool.RefCount(1)));
        Assert.Equal(BlockCopy.None, m.Append(child));
        Assert.Equal(2, m.UsedBlocks);
    }
}
