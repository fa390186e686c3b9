using System.Text.Json;
using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// fixtures/tiny-llama: a random Llama-3-architecture model (made by make_tiny_llama.py) in Meta's layout (one and two
/// shards) and Hugging Face's, with Hugging Face's greedy ids and logits for four prompts.
/// </summary>
internal static class TinyLlama
{
    private static readonly Lazy<string> s_root = new(FindRoot);
    private static readonly Lazy<Reference> s_reference = new(LoadReference);
    private static readonly Dictionary<string, Llama3> s_models = new();

    public static string Root => s_root.Value;

    public static string Dir(string layout) => Path.Combine(Root, layout);

    public static Reference Expected => s_reference.Value;

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

    public sealed record Reference(int[][] Prompts, int[][] Generated, float[][][] Logits);

    private static Reference LoadReference()
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "reference.json")));
        var prompts = new List<int[]>();
        var generated = new List<int[]>();
        foreach (JsonElement p in doc.RootElement.GetProperty("prompts").EnumerateArray())
        {
            prompts.Add(p.GetProperty("prompt").EnumerateArray().Select(x => x.GetInt32()).ToArray());
            generated.Add(p.GetProperty("generated").EnumerateArray().Select(x => x.GetInt32()).ToArray());
        }
        SafetensorsFile file = SafetensorsFile.Open(Path.Combine(Root, "reference.safetensors"));
        var logits = new float[prompts.Count][][];
        for (int i = 0; i < prompts.Count; i++)
        {
            using Tensor t = file.Read($"logits.{i}");
            float[] flat = t.data<float>().ToArray();
            int vocab = (int)t.shape[1];
            logits[i] = Enumerable.Range(0, (int)t.shape[0]).Select(s => flat.AsSpan(s * vocab, vocab).ToArray()).ToArray();
        }
        return new Reference(prompts.ToArray(), generated.ToArray(), logits);
    }

    private static string FindRoot() => FindRoot(SourceFile());

    private static string SourceFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    private static string FindRoot(string sourceFile)
    {
        // This source file's folder first (the test binary lives in an artifacts folder anywhere), then the binary's and
        // the working directory's ancestors.
        for (string? dir = Path.GetDirectoryName(sourceFile); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "fixtures", "tiny-llama");
            if (File.Exists(Path.Combine(candidate, "reference.json"))) return candidate;
        }
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "fixtures", "tiny-llama");
            if (File.Exists(Path.Combine(candidate, "reference.json"))) return candidate;
        }
        for (string? dir = Directory.GetCurrentDirectory(); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "fixtures", "tiny-llama");
            if (File.Exists(Path.Combine(candidate, "reference.json"))) return candidate;
        }
        string env = Environment.GetEnvironmentVariable("PAGEDSIM_ROOT") ?? "";
        string fromEnv = Path.Combine(env, "fixtures", "tiny-llama");
        if (File.Exists(Path.Combine(fromEnv, "reference.json"))) return fromEnv;
        throw new InvalidOperationException("fixtures/tiny-llama not found above the test binary or the working directory (set PAGEDSIM_ROOT).");
    }
}
