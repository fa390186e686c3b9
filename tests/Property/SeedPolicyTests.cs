using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>The seed-compatible policy and byte accounting, on figures worked out by hand.</summary>
public class SeedPolicyTests
{
    [Fact]
    public void FreedSequenceKeepsItsFirstBlockAndItsFragmentation()
    {
        var m = new KvCacheManager(new KvCacheOptions(NumBlocks: 8, BlockSize: 4, MaxSequenceLength: 32, Policy: AllocationPolicy.SeedCompatible, Seed: 1));
        int a = m.Admit(10);                    // 3 blocks, last holds 2: 2 empty slots
        int b = m.Admit(3);                     // 1 block, 1 empty slot
        var layout = new KvLayout(Layers: 32, KvHeads: 8, HeadDim: 128, BytesPerElement: 2);
        Assert.Equal(3 * 131_072L, m.SeedFragmentedBytes(layout)); // 2 × 32 × 8 × 128 × 2 = 131,072 bytes a token
        int first = m.Table(a).Blocks[0];

        m.Free(a);                              // keeps its first (full) block
        Assert.Equal([first], m.Table(a).Blocks.ToArray());
        Assert.Equal(4, m.Table(a).TokenCount);
        Assert.Equal((2, 1, 1), (m.UsedBlocks, m.RunningCount, m.RetiredCount));
        Assert.Equal(1 * 131_072L, m.SeedFragmentedBytes(layout));

        m.Free(b);                              // a one-block sequence keeps it all, 1 empty slot
        Assert.Equal(2, m.UsedBlocks);
        Assert.Equal(1 * 131_072L, m.SeedFragmentedBytes(layout));
        Assert.NotEqual(a, m.Admit(1));         // ids of retired sequences are not reused
    }

    [Fact]
    public void SameSeedSameBlocksAndDefaultHandsOutLowestFirst()
    {
        KvCacheManager Seeded(int seed) => new(new KvCacheOptions(64, 4, 256, AllocationPolicy.SeedCompatible, seed));
        KvCacheManager x = Seeded(7), y = Seeded(7);
        int sx = x.Admit(200), sy = y.Admit(200);
        Assert.Equal(x.Table(sx).Blocks.ToArray(), y.Table(sy).Blocks.ToArray());
        Assert.NotEqual(Enumerable.Range(0, 50), x.Table(sx).Blocks.ToArray()); // random picks, not 0..49 (1 chance in 64!/14!)

        var d = new KvCacheManager(new KvCacheOptions(64, 4, 256));
        Assert.Equal(Enumerable.Range(0, 50), d.Table(d.Admit(200)).Blocks.ToArray());
    }

    [Fact]
    public void Llama3LayoutBytes()
    {
        Assert.Equal(131_072L, KvLayout.Llama3_8B.BytesPerToken);     // 2 × 32 × 8 × 128 × 2
        Assert.Equal(4_096L, KvLayout.Llama3_8B.BytesPerTokenPerLayer);
        Assert.Equal(33_554_432L, KvLayout.Llama3_8B.BytesPerBlock(256));
        var m = new KvCacheManager(new KvCacheOptions(NumBlocks: 4, BlockSize: 4, MaxSequenceLength: 16));
        m.Admit(5);
        KvCacheUsage u = m.Usage(KvLayout.Llama3_8B);
        Assert.Equal((8L, 5L, 3L), (u.ReservedSlots, u.FilledSlots, u.FragmentedSlots));
        Assert.Equal(3 * 131_072L, u.FragmentedBytes);
        Assert.Equal(0.625, u.Utilization);
    }
}
