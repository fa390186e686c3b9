using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>Invalid calls fail with clear messages naming the argument; running out of blocks reports the figures.</summary>
public class ErrorMessageTests
{
    private static KvCacheManager Manager(AllocationPolicy policy = AllocationPolicy.Default) =>
        new(new KvCacheOptions(NumBlocks: 4, BlockSize: 4, MaxSequenceLength: 16, Policy: policy));

    [Fact]
    public void UnknownSequenceIsNamed()
    {
        KvCacheManager m = Manager();
        var e = Assert.Throws<ArgumentException>(() => m.Append(7));
        Assert.Equal("sequence", e.ParamName);
        Assert.StartsWith("Unknown sequence 7: it was never admitted or has been freed.", e.Message);
        Assert.Throws<ArgumentException>(() => m.Append(-1));
        Assert.Throws<ArgumentException>(() => m.Fork(0));
        Assert.Throws<ArgumentException>(() => m.Free(0));
        Assert.Throws<ArgumentException>(() => m.Table(0));
        Assert.Throws<ArgumentException>(() => m.RowOf(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.SequenceAt(0));
    }

    [Fact]
    public void FreedSequenceIsUnknown()
    {
        KvCacheManager m = Manager();
        int s = m.Admit(3);
        m.Free(s);
        var e = Assert.Throws<ArgumentException>(() => m.Append(s, 2));
        Assert.StartsWith($"Unknown sequence {s}: it was never admitted or has been freed.", e.Message);
        Assert.Throws<ArgumentException>(() => m.Free(s));
    }

    [Fact]
    public void RetiredSequenceCannotChange()
    {
        KvCacheManager m = Manager(AllocationPolicy.SeedCompatible);
        int s = m.Admit(3);
        m.Free(s);
        var e = Assert.Throws<ArgumentException>(() => m.Append(s));
        Assert.StartsWith($"Sequence {s} has finished and can no longer change.", e.Message);
        Assert.Equal(3, m.Table(s).TokenCount); // still readable
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void PromptLengthMustBePositive(int tokens)
    {
        KvCacheManager m = Manager();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.Admit(tokens));
        Assert.Equal("promptTokens", e.ParamName);
        Assert.Equal(tokens, e.ActualValue);
        Assert.StartsWith("Prompt length must be positive.", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.CanAdmit(tokens));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void AppendCountMustBePositive(int count)
    {
        KvCacheManager m = Manager();
        int s = m.Admit(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.Append(s, count));
        Assert.Equal("count", e.ParamName);
        Assert.StartsWith("Token count to append must be positive.", e.Message);
    }

    [Fact]
    public void SequenceLongerThanTheMaximumIsRejected()
    {
        KvCacheManager m = Manager();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => m.Admit(17));
        Assert.StartsWith("A sequence may hold at most 16 tokens.", e.Message);
        Assert.Equal("promptTokens", e.ParamName);
        Assert.False(m.CanAdmit(17));
        int s = m.Admit(16);
        Assert.Equal("sequence", Assert.Throws<ArgumentOutOfRangeException>(() => m.Append(s)).ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => m.Append(s, 3));
        Assert.Equal(("count", 19L), (e.ParamName, e.ActualValue));
        Assert.StartsWith("A sequence may hold at most 16 tokens.", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    public void BlockSizeMustBePositive(int blockSize)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheManager(new KvCacheOptions(NumBlocks: 4, BlockSize: blockSize)));
        Assert.Equal("BlockSize", e.ParamName);
        Assert.StartsWith("Block size must be a positive number of tokens.", e.Message);
    }

    [Fact]
    public void OtherSettingsAreChecked()
    {
        Assert.Equal("NumBlocks", Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheManager(new KvCacheOptions(-1, 4))).ParamName);
        Assert.Equal("MaxSequenceLength", Assert.Throws<ArgumentOutOfRangeException>(() => new KvCacheManager(new KvCacheOptions(4, 4, 0))).ParamName);
    }

    [Fact]
    public void CanAdmitChecksItsArguments()
    {
        KvCacheManager m = Manager();
        Assert.Equal("watermarkBlocks", Assert.Throws<ArgumentOutOfRangeException>(() => m.CanAdmit(4, -1)).ParamName);
        Assert.True(m.CanAdmit(16));
        Assert.False(m.CanAdmit(13, watermarkBlocks: 1)); // 4 blocks + 1 kept free > 4
        Assert.True(m.CanAdmit(12, watermarkBlocks: 1));
    }

    [Fact]
    public void WidthOfTheDenseTableDoesNotOverflow()
    {
        // ceil((2^31 - 1) / 16) = 2^27, worked out by hand; (MaxSequenceLength + 15) would overflow an int.
        Assert.Equal(134_217_728, new KvCacheOptions(NumBlocks: 1, BlockSize: 16, MaxSequenceLength: int.MaxValue).MaxBlocksPerSequence);
    }

    [Fact]
    public void OutOfBlocksReportsNeededAndFree()
    {
        var m = new KvCacheManager(new KvCacheOptions(NumBlocks: 4, BlockSize: 4, MaxSequenceLength: 32));
        int s = m.Admit(8); // 2 of 4 blocks
        var e = Assert.Throws<OutOfBlocksException>(() => m.Admit(13)); // 13 tokens need 4 blocks
        Assert.Equal((4, 2, 4), (e.Needed, e.Free, e.Total));
        Assert.Equal("Out of KV blocks: the operation needs 4 block(s) but only 2 of 4 are free.", e.Message);
        Assert.IsAssignableFrom<InvalidOperationException>(e);

        e = Assert.Throws<OutOfBlocksException>(() => m.Append(s, 9)); // 17 tokens: 5 blocks, 3 more
        Assert.Equal((3, 2), (e.Needed, e.Free));
        Assert.Equal(8, m.Table(s).TokenCount);
        Assert.Equal(2, m.FreeBlocks);
    }

    [Fact]
    public void CopyOnWriteCountsTheCopyAsNeeded()
    {
        var m = new KvCacheManager(new KvCacheOptions(NumBlocks: 2, BlockSize: 4, MaxSequenceLength: 16));
        int parent = m.Admit(5); // blocks: full + 1 token, both free blocks used
        int child = m.Fork(parent);
        var e = Assert.Throws<OutOfBlocksException>(() => m.Append(child));
        Assert.Equal((1, 0, 2), (e.Needed, e.Free, e.Total));
        Assert.Equal(2, m.Pool.RefCount(m.Table(parent).LastBlock));
    }

    [Fact]
    public void NaiveAllocatorErrors()
    {
        var naive = new NaiveAllocator(capacitySlots: 10, reservationLength: 4);
        Assert.Equal("promptTokens", Assert.Throws<ArgumentOutOfRangeException>(() => naive.Reserve(0)).ParamName);
        Assert.StartsWith("A request may hold at most 4 tokens.", Assert.Throws<ArgumentOutOfRangeException>(() => naive.Reserve(5)).Message);
        Assert.StartsWith("Unknown reservation 3: it was never made or has been freed.", Assert.Throws<ArgumentException>(() => naive.Append(3)).Message);
        int a = naive.Reserve(4);
        Assert.StartsWith($"Reservation {a} is full (4 tokens).", Assert.Throws<ArgumentOutOfRangeException>(() => naive.Append(a)).Message);
        naive.Reserve(1);
        var e = Assert.Throws<OutOfBlocksException>(() => naive.Reserve(1)); // 2 slots left, 4 needed
        Assert.Equal((1, 0, 2), (e.Needed, e.Free, e.Total));
        Assert.Equal("reservationLength", Assert.Throws<ArgumentOutOfRangeException>(() => new NaiveAllocator(10, 0)).ParamName);
    }
}
