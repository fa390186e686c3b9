using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// fixtures/tiny-llama: a random Llama-3-architecture model (made by make_tiny_llama.py) in Meta's layout (one and two
/// shards) and Hugging Face's, with Hugging Face's greedy ids and logits for four prompts.
/// </summary>
internal static class TinyLlama
{
    private static readonly Dictionary<string, Llama3> s_models = new();

    public static string Root => TinyLlamaFixture.Root;

    public static string Dir(string layout) => Path.Combine(Root, layout);

    public static TinyLlamaReference Expected => TinyLlamaFixture.Reference;

    /// <summary>The model of one layout, loaded once per test run (CPU, float32).</summary>
    public static Llama3 Model(string layout)
    {
        lock (s_models)
        {
            if (!s_models.TryGetValue(layout, out Llama3? model))
                s_models[layout] = model = Llama3.Load(Dir(layout), CPU, ScalarType.Float32, maxPositions: 512);
            return model;
        }
    }

    public static IKvCache PagedCache(Llama3 model, int blockSize, int numBlocks = 0, int maxSequenceLength = 256)
    {
        if (numBlocks == 0) numBlocks = 12 * ((maxSequenceLength + blockSize - 1) / blockSize);
        return new PagedKvCache(model.Config, new KvCacheOptions(numBlocks, blockSize, maxSequenceLength), CPU, model.DType);
    }

    public static IKvCache NaiveCache(Llama3 model, int rows = 16, int maxSequenceLength = 256) =>
        new NaiveKvCache(model.Config, rows, maxSequenceLength, CPU, model.DType);

    public static IReadOnlyList<GenerationResult> Generate(Llama3 model, IKvCache cache, IReadOnlyList<GenerationRequest> requests,
        PrefillMode prefill = PrefillMode.Whole) =>
        new BatchGenerator(model, cache, new ReferenceAttention()).Generate(requests, new GenerationOptions(null, prefill, RecordLogits: true));
}
