using PagedSim.Allocator.ModelConfig;
using PagedSim.Model;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// Llama 3.1 / 3.2 against transformers' LlamaForCausalLM on fixtures/tiny-llama31: llama3 RoPE scaling read from
/// Meta's params.json and from both config.json spellings, tied embeddings, prompts of 300-3000 tokens (beyond the
/// original 256 positions). The greedy ids must equal transformers', and plain RoPE must give other ids.
/// </summary>
public class ScaledRopeReferenceTests(ITestOutputHelper output)
{
    // transformers ran on the CPU in float32; 3000-token sums in another order stay well inside this.
    private const double Tolerance = 1e-3;

    [Theory]
    [InlineData("scaled", "scaled-meta", "paged", 64)]
    [InlineData("scaled", "scaled-hf", "naive", 0)]
    [InlineData("tied", "tied-hf", "paged", 256)]
    public void GreedyIdsAndLogitsMatchHuggingFace(string name, string layout, string cacheKind, int blockSize)
    {
        TinyLlama31Reference expected = TinyLlama31.Expected(name);
        using Llama3 model = Llama3.Load(TinyLlama31.Dir(layout), CPU, ScalarType.Float32);
        Assert.NotNull(model.Config.RopeScaling);
        Assert.Equal(name == "tied", model.Config.TiedEmbeddings);
        Assert.Equal(4096, model.MaxPositions); // the checkpoint's context
        Assert.True(expected.Prompts.All(p => p.Length > expected.OriginalContext));

        IReadOnlyList<GenerationResult> results = Generate(model, expected, cacheKind, blockSize);

        double worst = 0;
        for (int i = 0; i < expected.Prompts.Length; i++)
        {
            Assert.Equal(expected.Generated[i], results[i].Tokens);
            worst = Math.Max(worst, HuggingFaceReferenceTests.MaxAbsDiff(expected.Logits[i], results[i].Logits!));
        }
        output.WriteLine($"{layout}/{cacheKind}: max |logit - HF| = {worst:E2}");
        Assert.True(worst < Tolerance, $"max |logit - HF| = {worst:E3} exceeds {Tolerance}");
    }

    [Theory]
    [InlineData("scaled", "scaled-meta")]
    [InlineData("tied", "tied-hf")]
    public void PlainRopeGivesOtherIds(string name, string layout)
    {
        TinyLlama31Reference expected = TinyLlama31.Expected(name);
        (Llama3Config config, Llama3Weights weights) = Llama3Weights.Load(TinyLlama31.Dir(layout), CPU, ScalarType.Float32);
        using var model = new Llama3(config with { RopeScaling = null }, weights, CPU, ScalarType.Float32, config.MaxPositions);

        IReadOnlyList<GenerationResult> results = Generate(model, expected, "paged", 128);

        for (int i = 0; i < expected.Prompts.Length; i++)
        {
            output.WriteLine($"prompt {i} ({expected.Prompts[i].Length} tokens): scaled {string.Join(",", expected.Generated[i])}; plain {string.Join(",", results[i].Tokens)}");
            Assert.NotEqual(expected.Generated[i], results[i].Tokens);
        }
    }

    [Fact]
    public void MetaAndHuggingFaceLayoutsDescribeTheSameModel()
    {
        Llama3Config meta = Llama3Config.FromMetaParams(Path.Combine(TinyLlama31.Dir("scaled-meta"), "params.json"));
        Llama3Config hf = Llama3Config.FromHuggingFace(Path.Combine(TinyLlama31.Dir("scaled-hf"), "config.json"));
        Assert.Equal(meta, hf);
        Assert.Equal(new RopeScaling(8, 1, 4, 256), meta.RopeScaling);
        Llama3Config tied = Llama3Config.FromHuggingFace(Path.Combine(TinyLlama31.Dir("tied-hf"), "config.json"));
        Assert.Equal(meta with { TiedEmbeddings = true, RopeScaling = new RopeScaling(32, 1, 4, 256) }, tied);
    }

    private static IReadOnlyList<GenerationResult> Generate(Llama3 model, TinyLlama31Reference expected, string cacheKind, int blockSize)
    {
        int steps = expected.Generated[0].Length;
        var requests = expected.Prompts.Select(p => new GenerationRequest(p, steps)).ToArray();
        int longest = expected.Prompts.Max(p => p.Length) + steps;
        using IKvCache cache = cacheKind == "paged"
            ? TinyLlama.PagedCache(model, blockSize, requests.Sum(r => (r.Prompt.Count + steps + blockSize - 1) / blockSize) + 1, longest)
            : TinyLlama.NaiveCache(model, requests.Length, longest);
        return TinyLlama.Generate(model, cache, requests);
    }
}
