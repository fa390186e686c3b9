using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

public class SmokeTests
{
    [Fact]
    public void AdmitAppendFree()
    {
        var m = new KvCacheManager(new KvCacheOptions(NumBlocks: 4, BlockSize: 4, MaxSequenceLength: 16));
        int s = m.Admit(5);
        Assert.Equal(2, m.UsedBlocks);
        m.Append(s); m.Append(s); m.Append(s);
        Assert.Equal(2, m.UsedBlocks);
        m.Append(s);
        Assert.Equal(3, m.UsedBlocks);
        m.Free(s);
        Assert.Equal(4, m.FreeBlocks);
    }
}
