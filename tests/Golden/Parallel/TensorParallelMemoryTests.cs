using PagedSim.Allocator;
using PagedSim.Allocator.Simulation;
using PagedSim.Golden.Tests.Model;
using PagedSim.Model;
using PagedSim.Model.Parallel;
using PagedSim.Model.Synthetic;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Parallel;

/// <summary>
/// What each rank allocates (its weight tensors + its KV pools) against the simulator's per-GPU prediction
/// (<see cref="MemoryModel"/> with TensorParallel = N): the bytes the simulator counts are the bytes the ranks hold.
/// </summary>
public class TensorParallelMemoryTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void EachRankHoldsThePredictedWeightAndKvBytes(int tp)
    {
        using Llama3 model = tp == 1 ? Llama3.Load(TinyLlama.Dir("hf"), CPU, ScalarType.Float32, 512)
            : TensorParallel.Load(TinyLlama.Dir("hf"), [.. Enumerable.Repeat(CPU, tp)], ScalarType.Float32, new InProcessCollective(tp), 512);
        Llama3Config full = model.Parallel?.Plan.Config ?? model.Config;
        var memory = new MemoryModel(full.ToModelSpec("tiny-llama"), GpuSpec.OfSize(1L << 30, "test"), "fp32", tp, OverheadModel.Default);
        const int blocks = 24, blockSize = 16;
        using var cache = model.NewPagedCache(new KvCacheOptions(blocks, blockSize, 256));

        for (int rank = 0; rank < tp; rank++)
        {
            Llama3 r = model.Parallel?.Group.Models[rank] ?? model;
            long kv = cache is ShardedKvCache s ? s.BytesPerRank(rank) : Pools(cache, full.Layers);
            Assert.Equal(memory.WeightBytes, r.Weights.Bytes);
            Assert.Equal(blocks * memory.Layout.BytesPerBlock(blockSize), kv);
        }
    }

    [Fact]
    public void SyntheticEightBShapeMatchesThePredictionPerRank()
    {
        // Llama 3 8B at TP 8 would be 1 GB per rank in float32; the shape's counts are checked without the weights.
        Llama3Config c = SyntheticShapes.Llama3_8B;
        foreach (int tp in (int[])[1, 2, 4, 8])
        {
            var plan = ShardingPlan.Create(c, tp);
            Llama3Config l = plan.Local;
            long perRank = (long)plan.VocabPerRank * c.Dim * 2 + c.Dim
                + (long)c.Layers * (2L * c.Dim + (l.Heads + 2L * l.KvHeads) * l.HeadDim * c.Dim + (long)c.Dim * l.Heads * l.HeadDim + 3L * l.HiddenDim * c.Dim);
            Assert.Equal(ModelSpec.Llama3_8B.ParametersPerShard(tp), perRank);
            Assert.Equal(ModelSpec.Llama3_8B.KvHeadsPerShard(tp), l.KvHeads);
        }
    }

    private static long Pools(PagedSim.Model.KvCache.IKvCache cache, int layers)
    {
        long bytes = 0;
        for (int l = 0; l < layers; l++) bytes += (cache.Keys(l).numel() + cache.Values(l).numel()) * cache.Keys(l).element_size();
        return bytes;
    }
}
