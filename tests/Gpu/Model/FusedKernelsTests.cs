using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.Kernels;
using PagedSim.Model.KvCache;
using PagedSim.Model.Synthetic;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests.Model;

/// <summary>
/// The fused CUDA layer kernels against the eager TorchSharp operations they replace: each kernel on Llama-3-8B
/// shapes in bf16 and fp16, then whole greedy runs of the tiny Llama fixture with either kernel set.
/// </summary>
public class FusedKernelsTests(ITestOutputHelper output)
{
    private static readonly Llama3Config s_config = SyntheticShapes.Llama3_8B;

    [Theory]
    [InlineData(ScalarType.BFloat16, 1)]
    [InlineData(ScalarType.BFloat16, 49)]
    [InlineData(ScalarType.Float16, 300)]
    public void AddRmsNorm_matches_eager(ScalarType dtype, int tokens)
    {
        SkipUnlessFused();
        using var scope = NewDisposeScope();
        manual_seed(tokens);
        Tensor x = randn([tokens, s_config.Dim], device: CUDA).to(dtype), delta = randn([tokens, s_config.Dim], device: CUDA).to(dtype);
        Tensor weight = (1 + 0.1 * randn([s_config.Dim], device: CUDA)).to(dtype);
        Tensor eagerResidual = x.clone(), fusedResidual = x.clone();

        Tensor eager = empty_like(x), fused = full_like(x, double.NaN);
        EagerKernels.Instance.AddRmsNorm(eagerResidual, delta, weight, 1e-5, eager);
        new FusedCudaKernels().AddRmsNorm(fusedResidual, delta, weight, 1e-5, fused);

        Assert.True(eagerResidual.allclose(fusedResidual, 0, 0), "the residual add differs");
        AssertClose(eager, fused, dtype, "add+RMSNorm");
        Tensor untouched = x.clone();
        new FusedCudaKernels().AddRmsNorm(untouched, null, weight, 1e-5, fused);
        EagerKernels.Instance.AddRmsNorm(x.clone(), null, weight, 1e-5, eager);
        Assert.True(untouched.allclose(x, 0, 0), "without a delta the residual must not change");
        AssertClose(eager, fused, dtype, "RMSNorm without a delta");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 16, 1)]
    [InlineData(ScalarType.BFloat16, 256, 7)]
    [InlineData(ScalarType.Float16, 16, 40)]
    public void RopeAndCacheWrite_matches_eager(ScalarType dtype, int blockSize, int newTokens)
    {
        SkipUnlessFused();
        Llama3Config c = s_config with { Layers = 2 };
        var options = new KvCacheOptions(3 * ((600 + blockSize - 1) / blockSize + 1), blockSize, 2048);
        using PagedKvCache eagerCache = new(c, options, CUDA, dtype), fusedCache = new(c, options, CUDA, dtype);
        using var rope = new RotaryEmbedding(c.HeadDim, c.RopeTheta, 2048, CUDA);
        var random = new Random(newTokens);
        int[] lengths = [.. Enumerable.Range(0, 3).Select(_ => random.Next(newTokens, 600))];
        foreach (int l in lengths)
        {
            eagerCache.Add(l);
            fusedCache.Add(l);
        }
        int[] sequences = eagerCache.Running.ToArray();
        using var scope = NewDisposeScope();
        KvStep step = eagerCache.Prepare(sequences, newTokens, CUDA);
        manual_seed(blockSize);
        Tensor qkv = randn([sequences.Length * newTokens, (c.Heads + 2 * c.KvHeads) * c.HeadDim], device: CUDA).to(dtype);

        Tensor eagerQ = empty([qkv.shape[0], c.Heads, c.HeadDim], dtype, CUDA), fusedQ = full_like(eagerQ, double.NaN);
        EagerKernels.Instance.RopeAndCacheWrite(qkv, rope, step, eagerCache, 1, c, eagerQ);
        new FusedCudaKernels().RopeAndCacheWrite(qkv, rope, step, fusedCache, 1, c, fusedQ);

        AssertClose(eagerQ, fusedQ, dtype, "rotated q");
        AssertClose(eagerCache.Keys(1), fusedCache.Keys(1), dtype, "keys in the cache");
        Assert.True(eagerCache.Values(1).allclose(fusedCache.Values(1), 0, 0), "values in the cache differ");
        Assert.Equal(0, fusedCache.Keys(0).count_nonzero().item<long>()); // the other layer is untouched
        Assert.True(fusedCache.Keys(1).count_nonzero().item<long>() > 0);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 1)]
    [InlineData(ScalarType.Float16, 49)]
    public void SiluMul_matches_eager(ScalarType dtype, int tokens)
    {
        SkipUnlessFused();
        using var scope = NewDisposeScope();
        manual_seed(3);
        Tensor gateUp = (2 * randn([tokens, 2 * s_config.HiddenDim], device: CUDA)).to(dtype);

        Tensor eager = empty([tokens, s_config.HiddenDim], dtype, CUDA), fused = full_like(eager, double.NaN);
        EagerKernels.Instance.SiluMul(gateUp, eager);
        new FusedCudaKernels().SiluMul(gateUp, fused);

        AssertClose(eager, fused, dtype, "SiLU·mul");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 1, 6144, 4096)]
    [InlineData(ScalarType.Float16, 1, 4096, 14336)]
    [InlineData(ScalarType.BFloat16, 3, 4096, 4096)] // the 2-8-row tensor-core kernel on an H100/H200
    [InlineData(ScalarType.BFloat16, 49, 128256, 4096)] // the output head at N = 49: the 9-64-row wgmma kernel there
    [InlineData(ScalarType.Float16, 33, 4096, 14336)]
    [InlineData(ScalarType.BFloat16, 65, 4096, 4096)] // above the native rows: TorchSharp, as eager
    public void Linear_matches_eager(ScalarType dtype, int rows, int outFeatures, int inFeatures)
    {
        SkipUnlessFused();
        using var scope = NewDisposeScope();
        manual_seed(rows);
        Tensor x = randn([rows, inFeatures], device: CUDA).to(dtype);
        Tensor w = (randn([outFeatures, inFeatures], device: CUDA) / Math.Sqrt(inFeatures)).to(dtype);

        AssertClose(EagerKernels.Instance.Linear(x, w), new FusedCudaKernels().Linear(x, w), dtype, $"linear {rows}x{inFeatures} -> {outFeatures}");
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, 49, 128256)]
    [InlineData(ScalarType.Float16, 3, 1001)] // a vocabulary not a multiple of 8: element by element
    public void Argmax_matches_eager_and_takes_the_first_of_equal_maxima(ScalarType dtype, int rows, int vocab)
    {
        SkipUnlessFused();
        using var scope = NewDisposeScope();
        manual_seed(rows);
        Tensor logits = randn([rows, vocab], device: CUDA).to(dtype);
        // Row 0's maximum twice, the later one first in memory order of any thread's loads: the first index must win.
        logits[0, vocab - 2] = tensor(100f).to(dtype);
        logits[0, 5] = tensor(100f).to(dtype);
        long[] expected = logits.to(ScalarType.Float32).argmax(-1).cpu().data<long>().ToArray();
        long[] got = new FusedCudaKernels().Argmax(logits).cpu().data<long>().ToArray();
        Assert.Equal(5, got[0]);
        Assert.Equal(expected, got);
    }

    [Fact]
    public void Tiny_llama_greedy_runs_agree_with_either_kernel_set()
    {
        SkipUnlessFused();
        string dir = Path.Combine(TinyLlamaFixture.Root, "meta");
        TinyLlamaReference reference = TinyLlamaFixture.Reference;
        var requests = reference.Prompts.Select((p, i) => new GenerationRequest(p, reference.Generated[i].Length)).ToArray();
        IReadOnlyList<GenerationResult> Run(ILayerKernels kernels)
        {
            using Llama3 model = Llama3.Load(dir, CUDA, ScalarType.BFloat16, maxPositions: 256, kernels: kernels);
            Assert.Same(kernels, model.Kernels);
            using var cache = new PagedKvCache(model.Config, new KvCacheOptions(64, 16, 256), CUDA, model.DType);
            return new BatchGenerator(model, cache, new ReferenceAttention()).Generate(requests, new GenerationOptions(RecordLogits: true));
        }

        GreedyAgreement.Assert(Run(EagerKernels.Instance), Run(new FusedCudaKernels()), "eager", "fused", output);
    }

    [Fact]
    public void Native_layer_loop_agrees_with_the_per_operation_path()
    {
        // With flash attention the fused kernels run every layer from native code (psk_forward_layers); behind a
        // wrapper that is not a FlashAttentionBackend, the same kernels and the same flash calls go one by one.
        SkipUnlessFused();
        FlashAvailability.SkipUnlessAvailable();
        string dir = Path.Combine(TinyLlamaFixture.Root, "meta");
        TinyLlamaReference reference = TinyLlamaFixture.Reference;
        var requests = reference.Prompts.Select((p, i) => new GenerationRequest(p, reference.Generated[i].Length)).ToArray();
        using var flash = new PagedSim.Model.Attention.Flash.FlashAttentionBackend { NumSplits = 1 };
        IReadOnlyList<GenerationResult> Run(IAttentionBackend attention, bool naive)
        {
            using Llama3 model = Llama3.Load(dir, CUDA, ScalarType.BFloat16, maxPositions: 512, kernels: new FusedCudaKernels());
            using IKvCache cache = naive ? new NaiveKvCache(model.Config, requests.Length, 512, CUDA, model.DType)
                : new PagedKvCache(model.Config, new KvCacheOptions(4 * requests.Length, 256, 512), CUDA, model.DType);
            return new BatchGenerator(model, cache, attention).Generate(requests, new GenerationOptions(RecordLogits: true));
        }

        IReadOnlyList<GenerationResult> native = Run(flash, naive: false);
        GreedyAgreement.Assert(Run(new OneByOne(flash), naive: false), native, "one by one", "native", output);
        IReadOnlyList<GenerationResult> nativeNaive = Run(flash, naive: true);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(native[i].Tokens, nativeNaive[i].Tokens); // one kernel, two layouts
    }

    [Fact]
    public void Paged_decode_kernel_in_the_layer_loop_agrees_with_reference_attention_at_any_block_size()
    {
        // The native layer loop (and its graphs) attending with the library's paged decode kernel, prompts through the
        // reference backend: greedy ids agree with reference attention; blocks of 16 and 256 give the same ids.
        SkipUnlessFused();
        PagedDecodeAttentionTests.SkipUnlessAvailable();
        string dir = Path.Combine(TinyLlamaFixture.Root, "meta");
        TinyLlamaReference reference = TinyLlamaFixture.Reference;
        var requests = reference.Prompts.Select((p, i) => new GenerationRequest(p, 20 + 9 * i)).ToArray();
        IReadOnlyList<GenerationResult> Run(IAttentionBackend attention, int blockSize)
        {
            using Llama3 model = Llama3.Load(dir, CUDA, ScalarType.BFloat16, maxPositions: 512, kernels: new FusedCudaKernels());
            using var cache = new PagedKvCache(model.Config, new KvCacheOptions(requests.Length * (512 / blockSize), blockSize, 512), CUDA, model.DType);
            return new BatchGenerator(model, cache, attention).Generate(requests, new GenerationOptions(RecordLogits: true));
        }

        using var paged = new PagedSim.Model.Attention.Paged.PagedDecodeAttention(new ReferenceAttention());
        IReadOnlyList<GenerationResult> block16 = Run(paged, 16);
        GreedyAgreement.Assert(Run(new ReferenceAttention(), 16), block16, "reference", "paged kernel", output);
        IReadOnlyList<GenerationResult> block256 = Run(paged, 256);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(block16[i].Tokens, block256[i].Tokens);
    }

    [Fact]
    public void Decode_graphs_replay_the_direct_passes_bit_for_bit()
    {
        // Requests of different lengths finish at different steps, so the batch shrinks and new shapes are captured;
        // the second paged run gets a new cache, whose pointers force every graph to be captured again.
        SkipUnlessFused();
        FlashAvailability.SkipUnlessAvailable();
        string dir = Path.Combine(TinyLlamaFixture.Root, "meta");
        TinyLlamaReference reference = TinyLlamaFixture.Reference;
        var requests = reference.Prompts.Select((p, i) => new GenerationRequest(p, 20 + 9 * i)).ToArray();
        using var flash = new PagedSim.Model.Attention.Flash.FlashAttentionBackend { NumSplits = 1 };
        IKvCache NewCache(Llama3 model, bool naive) => naive ? new NaiveKvCache(model.Config, requests.Length, 512, CUDA, model.DType)
            : new PagedKvCache(model.Config, new KvCacheOptions(4 * requests.Length, 256, 512), CUDA, model.DType);

        foreach (bool naive in new[] { false, true })
        {
            IReadOnlyList<GenerationResult> direct, replayed, again;
            using (Llama3 model = Llama3.Load(dir, CUDA, ScalarType.BFloat16, maxPositions: 512, kernels: new FusedCudaKernels { CudaGraphs = false }))
            using (IKvCache cache = NewCache(model, naive))
            {
                direct = new BatchGenerator(model, cache, flash).Generate(requests, new GenerationOptions(RecordLogits: true));
            }
            var kernels = new FusedCudaKernels();
            using (Llama3 model = Llama3.Load(dir, CUDA, ScalarType.BFloat16, maxPositions: 512, kernels: kernels))
            {
                using (IKvCache cache = NewCache(model, naive))
                    replayed = new BatchGenerator(model, cache, flash).Generate(requests, new GenerationOptions(RecordLogits: true));
                int captures = kernels.GraphCaptures, replays = kernels.GraphReplays;
                output.WriteLine($"{(naive ? "naive" : "paged")}: {captures} graphs captured, {replays} passes replayed");
                Assert.True(captures >= 2, $"expected a graph per batch size, got {captures}");
                Assert.True(replays >= 2 * captures, $"only {replays} passes replayed from {captures} graphs");
                using (IKvCache cache = NewCache(model, naive))
                    again = new BatchGenerator(model, cache, flash).Generate(requests, new GenerationOptions(RecordLogits: true));
                Assert.True(kernels.GraphCaptures >= 2 * captures, "a new cache must be captured again");
            }
            for (int i = 0; i < requests.Length; i++)
            {
                Assert.Equal(direct[i].Tokens, replayed[i].Tokens);
                Assert.Equal(direct[i].Tokens, again[i].Tokens);
                for (int t = 0; t < direct[i].Logits!.Count; t++)
                {
                    Assert.True(direct[i].Logits![t].AsSpan().SequenceEqual(replayed[i].Logits![t]), $"request {i}, token {t}: replayed logits differ");
                    Assert.True(direct[i].Logits![t].AsSpan().SequenceEqual(again[i].Logits![t]), $"request {i}, token {t}: recaptured logits differ");
                }
            }
        }
    }

    [Fact]
    public void Overlapped_greedy_decode_on_cuda_matches_the_step_by_step_loop()
    {
        // Greedy runs without recorded logits queue each pass before reading the previous one's ids (fed on the device).
        // Requests ending by length leave both loops at the same pass, so every pass has the same rows: equal ids. A
        // stop token ends its request after the same prefix.
        SkipUnlessFused();
        FlashAvailability.SkipUnlessAvailable();
        string dir = Path.Combine(TinyLlamaFixture.Root, "meta");
        TinyLlamaReference reference = TinyLlamaFixture.Reference;
        var requests = reference.Prompts.Select((p, i) => new GenerationRequest(p, 6 + 7 * i)).ToArray();
        using var flash = new PagedSim.Model.Attention.Flash.FlashAttentionBackend { NumSplits = 1 };
        using Llama3 model = Llama3.Load(dir, CUDA, ScalarType.BFloat16, maxPositions: 512, kernels: new FusedCudaKernels());
        IReadOnlyList<GenerationResult> Run(IReadOnlyList<GenerationRequest> rs, bool recordLogits)
        {
            using var cache = new PagedKvCache(model.Config, new KvCacheOptions(4 * rs.Count, 256, 512), CUDA, model.DType);
            IReadOnlyList<GenerationResult> results = new BatchGenerator(model, cache, flash).Generate(rs, new GenerationOptions(RecordLogits: recordLogits));
            Assert.Equal(4 * rs.Count, cache.Manager.FreeBlocks);
            return results;
        }

        IReadOnlyList<GenerationResult> plain = Run(requests, true), overlapped = Run(requests, false);
        for (int i = 0; i < requests.Length; i++) Assert.Equal(plain[i].Tokens, overlapped[i].Tokens);

        int last = requests.Length - 1;
        var stopping = requests.Select((r, i) => i == last ? r with { StopTokens = new HashSet<int> { plain[i].Tokens[3] } } : r).ToArray();
        IReadOnlyList<GenerationResult> stopped = Run(stopping, false);
        Assert.Equal(FinishReason.Stop, stopped[last].Reason);
        Assert.Equal(plain[last].Tokens.TakeWhile(t => t != plain[last].Tokens[3]), stopped[last].Tokens);
        for (int i = 0; i < last; i++) Assert.Equal(requests[i].MaxNewTokens, stopped[i].Tokens.Count);
    }

    /// <summary>Hides the flash backend's type, so the model takes the operation-by-operation path.</summary>
    private sealed class OneByOne(IAttentionBackend inner) : IAttentionBackend
    {
        public string Name => inner.Name;

        public void Forward(AttentionInputs inputs, Tensor output) => inner.Forward(inputs, output);
    }

    [Fact]
    public void Auto_picks_the_fused_kernels_on_cuda_in_bf16_only()
    {
        SkipUnlessFused();
        Assert.IsType<FusedCudaKernels>(LayerKernels.Select("auto", CUDA, ScalarType.BFloat16));
        Assert.IsType<EagerKernels>(LayerKernels.Select("auto", CUDA, ScalarType.Float32));
        Assert.Contains("float32", Assert.Throws<ArgumentException>(() => LayerKernels.Select("fused", CUDA, ScalarType.Float32)).Message,
            StringComparison.OrdinalIgnoreCase);
    }

    private void AssertClose(Tensor expected, Tensor actual, ScalarType dtype, string what)
    {
        // Two roundings of the element type apart at most (float32 sums may be ordered differently).
        double eps = dtype == ScalarType.BFloat16 ? 1.0 / 64 : 1.0 / 512;
        using var scope = NewDisposeScope();
        Tensor e = expected.to(ScalarType.Float32), a = actual.to(ScalarType.Float32);
        Tensor excess = (a - e).abs() - (eps * e.abs() + eps * 1e-2);
        double worst = (a - e).abs().max().item<float>();
        output.WriteLine($"{what} ({dtype}): max |fused - eager| {worst:G3}");
        Assert.True(excess.max().item<float>() <= 0, $"{what}: fused and eager differ by up to {worst:G3}");
    }

    private static void SkipUnlessFused()
    {
        CudaDevice.SkipUnlessAvailable();
        string? missing = FusedCudaKernels.UnavailableReason;
        Assert.SkipWhen(missing is not null, $"No fused kernels: {missing}");
    }
}
