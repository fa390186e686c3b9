using System.Text.Json;
using PagedSim.Model;
using PagedSim.Model.Checkpoints;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>Hugging Face's greedy ids and logits for one model of fixtures/tiny-llama31.</summary>
/// <param name="Prompts">Prompt ids (300, 1200 and 3000 tokens).</param>
/// <param name="Generated">transformers' greedy ids with llama3 RoPE scaling.</param>
/// <param name="GeneratedUnscaled">Greedy ids of the same weights with plain RoPE (the script's own forward pass).</param>
/// <param name="Logits">Float32 logits [step][vocab] per prompt.</param>
/// <param name="OriginalContext">The scaling's original_max_position_embeddings.</param>
internal sealed record TinyLlama31Reference(int[][] Prompts, int[][] Generated, int[][] GeneratedUnscaled, float[][][] Logits, int OriginalContext);

/// <summary>
/// fixtures/tiny-llama31 (made by fixtures/tiny-llama/make_tiny_llama31.py): "scaled" — Llama 3.1-style RoPE scaling
/// (factor 8, original context 256) in Meta's and Hugging Face's layouts — and "tied" — Llama 3.2-style tied
/// embeddings with scaling factor 32, Hugging Face's layout.
/// </summary>
internal static class TinyLlama31
{
    private static readonly Dictionary<string, TinyLlama31Reference> s_references = new();

    public static string Root => Path.GetFullPath(Path.Combine(TinyLlamaFixture.Root, "..", "tiny-llama31"));

    public static string Dir(string layout) => Path.Combine(Root, layout);

    /// <summary>The reference of model <paramref name="name"/> ("scaled" or "tied").</summary>
    public static TinyLlama31Reference Expected(string name)
    {
        lock (s_references)
        {
            if (!s_references.TryGetValue(name, out TinyLlama31Reference? r)) s_references[name] = r = Load(name);
            return r;
        }
    }

    private static TinyLlama31Reference Load(string name)
    {
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Root, "reference.json")));
        JsonElement model = doc.RootElement.GetProperty("models").GetProperty(name);
        static int[] Ids(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
        JsonElement[] prompts = model.GetProperty("prompts").EnumerateArray().ToArray();
        SafetensorsFile file = SafetensorsFile.Open(Path.Combine(Root, "reference.safetensors"));
        var logits = new float[prompts.Length][][];
        for (int i = 0; i < prompts.Length; i++)
        {
            using Tensor t = file.Read($"{name}.logits.{i}");
            float[] flat = t.data<float>().ToArray();
            int vocab = (int)t.shape[1];
            logits[i] = Enumerable.Range(0, (int)t.shape[0]).Select(s => flat.AsSpan(s * vocab, vocab).ToArray()).ToArray();
        }
        return new TinyLlama31Reference(
            prompts.Select(p => Ids(p.GetProperty("prompt"))).ToArray(),
            prompts.Select(p => Ids(p.GetProperty("generated"))).ToArray(),
            prompts.Select(p => Ids(p.GetProperty("generated_unscaled"))).ToArray(),
            logits,
            model.GetProperty("rope_scaling").GetProperty("original_max_position_embeddings").GetInt32());
    }
}
