using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

using PagedSim.Tests.Shared;

namespace PagedSim.Gpu.Tests.Model;

/// <summary>
/// The tiny Llama fixture on CUDA: float32 must reproduce Hugging Face's greedy ids (as on the CPU) with both caches;
/// bf16 (the GPU default) must stay close to the float32 reference.
/// </summary>
public class TinyLlamaOnCudaTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("meta", "paged", 16)]
    [InlineData("hf", "paged", 3)]
    [InlineData("meta-2shard", "naive", 0)]
    public void Float32MatchesHuggingFaceIds(string layout, string cacheKind, int blockSize)
    {
        CudaDevice.SkipUnlessAvailable();
        (int[][] prompts, int[][] generated, float[][] firstLogits) = Reference();
        using Llama3 model = Llama3.Load(Fixture(layout), CUDA, ScalarType.Float32, maxPositions: 256);
        using IKvCache cache = Cache(model, cacheKind, blockSize);
        var requests = prompts.Select((p, i) => new GenerationRequest(p, generated[i].Length)).ToArray();

        var results = new BatchGenerator(model, cache, new ReferenceAttention())
            .Generate(requests, new GenerationOptions(RecordLogits: true));

        double worst = 0;
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(generated[i], results[i].Tokens);
            worst = Math.Max(worst, firstLogits[i].Zip(results[i].Logits![0], (a, b) => Math.Abs((double)a - b)).Max());
        }
        output.WriteLine($"{layout}/{cacheKind} float32 on CUDA: max |first-step logit - HF| = {worst:E2}");
        Assert.True(worst < 1e-3, $"max |logit - HF| = {worst:E3}");
    }

    [Fact]
    public void Bfloat16StaysCloseToTheFloat32Reference()
    {
        CudaDevice.SkipUnlessAvailable();
        (int[][] prompts, int[][] generated, float[][] firstLogits) = Reference();
        using Llama3 model = Llama3.Load(Fixture("hf"), CUDA, maxPositions: 256);
        Assert.Equal(ScalarType.BFloat16, model.DType);
        using IKvCache cache = Cache(model, "paged", 16);
        var requests = prompts.Select(p => new GenerationRequest(p, 1)).ToArray();

        var results = new BatchGenerator(model, cache, new ReferenceAttention())
            .Generate(requests, new GenerationOptions(RecordLogits: true));

        double worst = 0, scale = 0;
        for (int i = 0; i < prompts.Length; i++)
        {
            worst = Math.Max(worst, firstLogits[i].Zip(results[i].Logits![0], (a, b) => Math.Abs((double)a - b)).Max());
            scale = Math.Max(scale, firstLogits[i].Max(Math.Abs));
        }
        output.WriteLine($"bf16 on CUDA: max |first-step logit - HF float32| = {worst:F3} (logits up to {scale:F1})");
        Assert.True(worst < 0.05 * scale, $"bf16 logits differ by {worst:F3} (scale {scale:F1})");
    }

    [Fact]
    public void PagedAndNaiveAgreeOnCuda()
    {
        CudaDevice.SkipUnlessAvailable();
        using Llama3 model = Llama3.Load(Fixture("meta"), CUDA, maxPositions: 256);
        var random = new Random(5);
        var requests = Enumerable.Range(0, 6).Select(_ => new GenerationRequest(
            Enumerable.Range(0, random.Next(1, 50)).Select(_ => random.Next(256)).ToArray(), random.Next(1, 30))).ToArray();
        using IKvCache paged = Cache(model, "paged", 8), naive = Cache(model, "naive", 0);

        var p = new BatchGenerator(model, paged, new ReferenceAttention()).Generate(requests);
        var n = new BatchGenerator(model, naive, new ReferenceAttention()).Generate(requests);

        for (int i = 0; i < requests.Length; i++) Assert.Equal(n[i].Tokens, p[i].Tokens);
    }

    private static IKvCache Cache(Llama3 model, string kind, int blockSize) => kind == "naive"
        ? new NaiveKvCache(model.Config, 8, 128, CUDA, model.DType)
        : new PagedKvCache(model.Config, new KvCacheOptions(8 * ((128 + blockSize - 1) / blockSize), blockSize, 128), CUDA, model.DType);

    private static string Fixture(string layout) => Path.Combine(TinyLlamaFixture.Root, layout);

    /// <summary>The reference's prompts and ids, and each prompt's first-step logits.</summary>
    private static (int[][] Prompts, int[][] Generated, float[][] FirstLogits) Reference()
    {
        TinyLlamaReference r = TinyLlamaFixture.Reference;
        return (r.Prompts, r.Generated, r.Logits.Select(steps => steps[0]).ToArray());
    }
}
