using System.Text.Json;
using PagedSim.Model.Checkpoints;
using static TorchSharp.torch;

namespace PagedSim.Tests.Shared;

/// <summary>Hugging Face's greedy ids and logits for the prompts of fixtures/tiny-llama (made by make_tiny_llama.py).</summary>
/// <param name="Prompts">Prompt ids.</param>
/// <param name="Generated">Greedy ids per prompt.</param>
/// <param name="Logits">Float32 logits [step][vocab] per prompt.</param>
internal sealed record TinyLlamaReference(int[][] Prompts, int[][] Generated, float[][][] Logits);

/// <summary>
/// Finds fixtures/tiny-llama and reads its reference; compiled into every test project that needs it (the test
/// binaries may live in an artifacts folder anywhere, so this source file's folder is searched first).
/// </summary>
internal static class TinyLlamaFixture
{
    private static readonly Lazy<string> s_root = new(() => FindRoot(SourceFile()));
    private static readonly Lazy<TinyLlamaReference> s_reference = new(Load);

    /// <summary>The fixtures/tiny-llama folder.</summary>
    public static string Root => s_root.Value;

    /// <summary>The reference, read once.</summary>
    public static TinyLlamaReference Reference => s_reference.Value;

    private static TinyLlamaReference Load()
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
        return new TinyLlamaReference(prompts.ToArray(), generated.ToArray(), logits);
    }

    private static string SourceFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    private static string FindRoot(string sourceFile)
    {
        string env = Environment.GetEnvironmentVariable("PAGEDSIM_ROOT") ?? "";
        foreach (string? start in new[] { Path.GetDirectoryName(sourceFile), AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (string? dir = start; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
            {
                string candidate = Path.Combine(dir, "fixtures", "tiny-llama");
                if (File.Exists(Path.Combine(candidate, "reference.json"))) return candidate;
            }
        }
        string fromEnv = Path.Combine(env, "fixtures", "tiny-llama");
        if (File.Exists(Path.Combine(fromEnv, "reference.json"))) return fromEnv;
        throw new InvalidOperationException("fixtures/tiny-llama not found above the sources, the test binary or the working directory (set PAGEDSIM_ROOT).");
    }
}
