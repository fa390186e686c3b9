using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>A step's copy-on-writes carried out together move every layer's K and V as the one-by-one copies do.</summary>
public class PagedKvCacheCopyTests
{
    [Fact]
    public void Copying_several_blocks_at_once_equals_copying_them_one_by_one()
    {
        var config = new Llama3Config(Dim: 64, Layers: 3, Heads: 4, KvHeads: 2, VocabSize: 10, HiddenDim: 128, NormEps: 1e-5, RopeTheta: 10000);
        var options = new KvCacheOptions(NumBlocks: 12, BlockSize: 4, MaxSequenceLength: 16);
        using var together = new PagedKvCache(config, options, CPU, ScalarType.Float32);
        using var oneByOne = new PagedKvCache(config, options, CPU, ScalarType.Float32);
        var fill = new Random(1);
        for (int l = 0; l < config.Layers; l++)
        {
            using Tensor k = rand(together.Keys(l).shape, generator: new Generator((ulong)fill.Next()));
            using Tensor v = rand(together.Values(l).shape, generator: new Generator((ulong)fill.Next()));
            foreach (PagedKvCache c in new[] { together, oneByOne })
            {
                c.Keys(l).copy_(k);
                c.Values(l).copy_(v);
            }
        }
        BlockCopy[] copies = [new(1, 7), BlockCopy.None, new(3, 9), new(1, 10)];

        together.CopyBlocks(copies);
        foreach (BlockCopy c in copies) oneByOne.CopyBlock(c);

        for (int l = 0; l < config.Layers; l++)
        {
            Assert.True(together.Keys(l).allclose(oneByOne.Keys(l), rtol: 0, atol: 0));
            Assert.True(together.Values(l).allclose(oneByOne.Values(l), rtol: 0, atol: 0));
            Assert.True(together.Keys(l)[7].allclose(together.Keys(l)[1], rtol: 0, atol: 0)); // and the copy happened
        }
    }
}
