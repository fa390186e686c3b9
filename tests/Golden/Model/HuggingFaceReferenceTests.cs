using PagedSim.Model;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;

using PagedSim.Tests.Shared;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// The C# model against transformers' LlamaForCausalLM (float32, CPU) on the tiny model: identical greedy ids and
/// logits within 1e-4, from every checkpoint layout, with both caches and every prefill mode.
/// </summary>
public class HuggingFaceReferenceTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("meta", "paged", 16)]
    [InlineData("meta-2shard", "paged", 5)]
    [InlineData("hf", "paged", 64)]
    [InlineData("hf", "naive", 0)]
    [InlineData("meta", "naive", 0)]
    public void GreedyIdsAndLogitsMatchHuggingFace(string layout, string cacheKind, int blockSize)
    {
        Llama3 model = TinyLlama.Model(layout);
        TinyLlamaReference expected = TinyLlama.Expected;
        using IKvCache cache = cacheKind == "paged" ? TinyLlama.PagedCache(model, blockSize) : TinyLlama.NaiveCache(model);
        var requests = expected.Prompts.Select((p, i) => new GenerationRequest(p, expected.Generated[i].Length)).ToArray();

        IReadOnlyList<GenerationResult> results = TinyLlama.Generate(model, cache, requests);

        double worst = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(expected.Generated[i], results[i].Tokens);
            Assert.Equal(FinishReason.Length, results[i].Reason);
            worst = Math.Max(worst, MaxAbsDiff(expected.Logits[i], results[i].Logits!));
        }
        output.WriteLine($"{layout}/{cacheKind}: max |logit - HF| = {worst:E2}");
        Assert.True(worst < Tolerance, $"max |logit - HF| = {worst:E3} exceeds {Tolerance}");
    }

    [Fact]
    public void TokenByTokenPrefillAlsoMatchesHuggingFace()
    {
        Llama3 model = TinyLlama.Model("meta");
        TinyLlamaReference expected = TinyLlama.Expected;
        using IKvCache cache = TinyLlama.PagedCache(model, 8);
        var requests = expected.Prompts.Select((p, i) => new GenerationRequest(p, expected.Generated[i].Length)).ToArray();

        IReadOnlyList<GenerationResult> results = TinyLlama.Generate(model, cache, requests, PrefillMode.TokenByToken);

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(expected.Generated[i], results[i].Tokens);
            Assert.True(MaxAbsDiff(expected.Logits[i], results[i].Logits!) < Tolerance);
        }
    }

    [Theory]
    [InlineData("paged", 16)]
    [InlineData("paged", 5)]
    [InlineData("naive", 0)]
    public void RaggedPrefillAlsoMatchesHuggingFace(string cacheKind, int blockSize)
    {
        Llama3 model = TinyLlama.Model("meta");
        TinyLlamaReference expected = TinyLlama.Expected;
        using IKvCache cache = cacheKind == "paged" ? TinyLlama.PagedCache(model, blockSize) : TinyLlama.NaiveCache(model);
        var requests = expected.Prompts.Select((p, i) => new GenerationRequest(p, expected.Generated[i].Length)).ToArray();
        Assert.True(expected.Prompts.Select(p => p.Length).Distinct().Count() > 1, "the prompts need several lengths");
        var passes = new List<GenerationStep>();
        var generator = new BatchGenerator(model, cache, new PagedSim.Model.Attention.ReferenceAttention()) { StepCompleted = passes.Add };

        IReadOnlyList<GenerationResult> results = generator.Generate(requests, new GenerationOptions(null, PrefillMode.Ragged, RecordLogits: true));

        Assert.Equal([requests.Length], passes.Where(p => p.IsPrefill).Select(p => p.BatchSize)); // every prompt in one pass
        double worst = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(expected.Generated[i], results[i].Tokens);
            worst = Math.Max(worst, MaxAbsDiff(expected.Logits[i], results[i].Logits!));
        }
        output.WriteLine($"ragged/{cacheKind}: max |logit - HF| = {worst:E2}");
        Assert.True(worst < Tolerance, $"max |logit - HF| = {worst:E3} exceeds {Tolerance}");
    }

    internal static double MaxAbsDiff(IReadOnlyList<float[]> a, IReadOnlyList<float[]> b)
    {
        Assert.Equal(a.Count, b.Count);
        double worst = 0;
        for (int s = 0; s < a.Count; s++)
        {
            Assert.Equal(a[s].Length, b[s].Length);
            for (int v = 0; v < a[s].Length; v++) worst = Math.Max(worst, Math.Abs((double)a[s][v] - b[s][v]));
        }
        return worst;
    }
}
