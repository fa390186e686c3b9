using PagedSim.Allocator;
using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.Kernels;
using PagedSim.Model.KvCache;
using PagedSim.Model.Parallel;
using PagedSim.Model.Synthetic;
using PagedSim.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests.Parallel;

/// <summary>
/// Tensor parallelism over NCCL. One GPU: the NCCL path at TP = 1 (a communicator of one, through ncclCommInitAll and
/// ncclCommInitRank) gives the plain path's ids and logits. Two GPUs or more: the all-reduce's sum, and Llama 3 8B's
/// shape (synthetic weights, the same seed at every degree) at TP = 2 against TP = 1 within the bf16-noise criterion
/// of <see cref="GreedyAgreement"/>, and each GPU's weight + KV bytes against the simulator's per-GPU prediction.
/// Skip without CUDA, without libnccl.so.2, or with too few GPUs.
/// </summary>
public class NcclTensorParallelTests(ITestOutputHelper output)
{
    private static Device Gpu(int i) => new(DeviceType.CUDA, i);

    [Fact]
    public void CommunicatorOfOneGivesThePlainPath()
    {
        Nccl.SkipUnlessAvailable();
        string dir = Path.Combine(TinyLlamaFixture.Root, "hf");
        TinyLlamaReference r = TinyLlamaFixture.Reference;
        var requests = r.Prompts.Select((p, i) => new GenerationRequest(p, r.Generated[i].Length)).ToArray();
        IReadOnlyList<GenerationResult> plain, nccl;
        using (Llama3 model = Llama3.Load(dir, Gpu(0), ScalarType.Float32, 256, EagerKernels.Instance))
            plain = Generate(model, requests);
        var collective = NcclCollective.CreateAll([Gpu(0)]);
        output.WriteLine($"{collective.Name}, ncclCommInitAll over cuda:0");
        using (Llama3 model = TensorParallel.Load(dir, [Gpu(0)], ScalarType.Float32, collective, 256))
            nccl = Generate(model, requests);

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(plain[i].Tokens, nccl[i].Tokens);
            Assert.Equal(r.Generated[i], nccl[i].Tokens);
            for (int t = 0; t < plain[i].Logits!.Count; t++) Assert.Equal(plain[i].Logits![t], nccl[i].Logits![t]); // a sum over one rank is exact
        }
    }

    [Fact]
    public void InitRankMakesACommunicatorOfOne()
    {
        Nccl.SkipUnlessAvailable();
        using NcclCollective c = NcclCollective.ForRank(NcclCollective.NewUniqueId(), 1, 0);
        using Tensor t = arange(6, ScalarType.Float32, Gpu(0));
        c.AllReduce(0, t);
        using Tensor g = c.AllGather(0, t);
        Assert.Equal([0f, 1, 2, 3, 4, 5], t.cpu().data<float>().ToArray());
        Assert.Equal([1L, 6], g.shape);
    }

    [Fact]
    public async Task AllReduceSumsOverGpus()
    {
        Nccl.SkipUnlessAvailable(gpus: 2);
        int n = (int)Math.Min(torch.cuda.device_count(), 8);
        Device[] devices = [.. Enumerable.Range(0, n).Select(Gpu)];
        using NcclCollective c = NcclCollective.CreateAll(devices);
        var sums = new float[n][];
        await Task.WhenAll([.. Enumerable.Range(0, n).Select(r => Task.Factory.StartNew(() =>
        {
            using Tensor t = full(1000, r + 1f, ScalarType.BFloat16, devices[r]);
            c.AllReduce(r, t);
            sums[r] = t.to(ScalarType.Float32).cpu().data<float>().ToArray();
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default))]);
        float expected = n * (n + 1) / 2f;
        Assert.All(sums, s => Assert.All(s, v => Assert.Equal(expected, v)));
    }

    [Fact]
    public void EightBAtTwoGpusAgreesWithOneWithinBf16Noise()
    {
        Nccl.SkipUnlessAvailable(gpus: 2);
        Llama3Config shape = SyntheticShapes.Llama3_8B;
        var requests = new[] { new GenerationRequest([128000, 791, 6864, 315, 9822, 374], 24), new GenerationRequest([128000, 16, 11, 17, 11, 18], 24) };
        IReadOnlyList<GenerationResult> one, two;
        using (var model = new Llama3(shape, SyntheticWeights.Create(shape, Gpu(0), ScalarType.BFloat16, 3), Gpu(0), ScalarType.BFloat16, 512, EagerKernels.Instance))
            one = Generate(model, requests);
        using (Llama3 model = TensorParallel.Synthetic(shape, 3, [Gpu(0), Gpu(1)], ScalarType.BFloat16, NcclCollective.CreateAll([Gpu(0), Gpu(1)]), 512))
            two = Generate(model, requests);
        GreedyAgreement.Assert(one, two, "TP 1", "TP 2", output);
    }

    [Fact]
    public void EachGpuHoldsThePredictedBytes()
    {
        Nccl.SkipUnlessAvailable(gpus: 2);
        Llama3Config shape = SyntheticShapes.Llama3_8B;
        Device[] devices = [Gpu(0), Gpu(1)];
        using Llama3 model = TensorParallel.Synthetic(shape, 0, devices, ScalarType.BFloat16, NcclCollective.CreateAll(devices), 8192);
        var memory = new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.OfSize(141L << 30, "h200"), "bf16", 2, OverheadModel.Default);
        const int blocks = 200, blockSize = 256;
        using var cache = (ShardedKvCache)model.NewPagedCache(new KvCacheOptions(blocks, blockSize, 8192));
        for (int r = 0; r < 2; r++)
        {
            output.WriteLine($"rank {r}: weights {model.Parallel!.Group.Models[r].Weights.Bytes:N0} B (predicted {memory.WeightBytes:N0}), KV {cache.BytesPerRank(r):N0} B");
            Assert.Equal(memory.WeightBytes, model.Parallel.Group.Models[r].Weights.Bytes);
            Assert.Equal(blocks * memory.Layout.BytesPerBlock(blockSize), cache.BytesPerRank(r));
        }
    }

    private static IReadOnlyList<GenerationResult> Generate(Llama3 model, GenerationRequest[] requests)
    {
        int longest = requests.Max(q => q.Prompt.Count + q.MaxNewTokens);
        using IKvCache cache = model.NewPagedCache(new KvCacheOptions(requests.Length * ((longest + 15) / 16), 16, longest));
        return new BatchGenerator(model, cache, new ReferenceAttention()).Generate(requests, new GenerationOptions(RecordLogits: true));
    }
}
