using System.Text.Json;

namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Reads a model's architecture from either of the two files Llama checkpoints ship: Meta's <c>params.json</c>
/// (<see cref="ModelSpec.FromMetaParams"/>) or Hugging Face's <c>config.json</c>. The format is told by its keys:
/// <c>hidden_size</c> is Hugging Face's, <c>dim</c> Meta's.
/// </summary>
public static class ModelConfigFile
{
    /// <summary>Parses a <c>params.json</c> or a <c>config.json</c>.</summary>
    /// <exception cref="FormatException">Malformed JSON, neither format, or a required key missing or invalid.</exception>
    public static ModelSpec Parse(string json, string name)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonElement root = ParseObject(json);
        if (root.TryGetProperty("hidden_size", out _)) return FromHuggingFaceConfig(root, name);
        if (root.TryGetProperty("dim", out _)) return ModelSpec.FromMetaParams(json, name);
        throw new FormatException("neither a Hugging Face config.json (no \"hidden_size\") nor a Meta params.json (no \"dim\")");
    }

    /// <summary>
    /// Parses Hugging Face's <c>config.json</c> of a Llama-family model: hidden_size, num_hidden_layers,
    /// num_attention_heads, num_key_value_heads (default: the heads), vocab_size, intermediate_size and
    /// tie_word_embeddings (default false). A <c>head_dim</c> other than hidden_size / heads is refused: the memory model
    /// derives the head size from the width.
    /// </summary>
    /// <exception cref="FormatException">Malformed JSON, or a required key missing or invalid.</exception>
    public static ModelSpec FromHuggingFaceConfig(string json, string name) => FromHuggingFaceConfig(ParseObject(json), name);

    private static ModelSpec FromHuggingFaceConfig(JsonElement root, string name)
    {
        int dim = Required(root, "hidden_size"), layers = Required(root, "num_hidden_layers");
        int heads = Required(root, "num_attention_heads"), kvHeads = Optional(root, "num_key_value_heads") ?? heads;
        int vocab = Required(root, "vocab_size"), intermediate = Required(root, "intermediate_size");
        if (dim % heads != 0) throw new FormatException($"hidden_size {dim} is not a multiple of num_attention_heads {heads}");
        if (heads % kvHeads != 0) throw new FormatException($"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        if (Optional(root, "head_dim") is int headDim && headDim != dim / heads)
            throw new FormatException($"head_dim {headDim} differs from hidden_size / num_attention_heads = {dim / heads}, which the memory model assumes");
        bool tied = root.TryGetProperty("tie_word_embeddings", out JsonElement t) && t.ValueKind == JsonValueKind.True;
        // ModelSpec sizes SwiGLU as Meta does (from dim, multiple_of and a multiplier); config.json states the size.
        // multiple_of = the size reproduces it exactly whenever it is at least Meta's base 8·dim/3 (every Llama);
        // below that a multiplier does, with half a unit of slack against rounding down.
        int baseHidden = (int)(2.0 * 4 * dim / 3);
        ModelSpec spec = intermediate >= baseHidden
            ? new ModelSpec(name, dim, layers, heads, kvHeads, vocab, intermediate, null, tied)
            : new ModelSpec(name, dim, layers, heads, kvHeads, vocab, 1, (intermediate + 0.5) / baseHidden, tied);
        if (spec.FfnHidden != intermediate)
            throw new FormatException($"intermediate_size {intermediate} cannot be represented");
        return spec;
    }

    private static JsonElement ParseObject(string json)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException("expected a JSON object");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new FormatException($"malformed JSON ({e.Message.Split('\n')[0]})", e);
        }
    }

    private static int Required(JsonElement root, string key) =>
        Optional(root, key) ?? throw new FormatException($"missing \"{key}\"");

    private static int? Optional(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out JsonElement e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v) || v <= 0)
            throw new FormatException($"\"{key}\" must be a positive whole number, got {e.GetRawText()}");
        return v;
    }
}
