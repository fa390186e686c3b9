using System.Text.Json;

namespace PagedSim.Allocator.Simulation;

/// <summary>
/// A Llama-family decoder's architecture, as Meta's <c>params.json</c> gives it: enough to count weights and KV bytes.
/// </summary>
/// <param name="Name">Preset name or file the spec came from.</param>
/// <param name="Dim">Model width.</param>
/// <param name="Layers">Transformer layers.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention).</param>
/// <param name="VocabSize">Vocabulary size.</param>
/// <param name="MultipleOf">The SwiGLU hidden size is rounded up to a multiple of this.</param>
/// <param name="FfnDimMultiplier">Scales the SwiGLU hidden size; null when params.json omits it.</param>
/// <param name="TiedEmbeddings">True when the output head reuses the embedding matrix (Llama 3.2 1B/3B).</param>
/// <param name="MaxSequenceLength">Longest sequence the runtime allows (the seed's 8192).</param>
public sealed record ModelSpec(
    string Name, int Dim, int Layers, int Heads, int KvHeads, int VocabSize, int MultipleOf, double? FfnDimMultiplier,
    bool TiedEmbeddings, int MaxSequenceLength = 8192)
{
    /// <summary>Llama 3 8B (and 3.1 8B): untied output head, 8.03B parameters.</summary>
    public static ModelSpec Llama3_8B { get; } = new("llama3-8b", 4096, 32, 32, 8, 128256, 1024, 1.3, false);

    /// <summary>Llama 3 70B (and 3.1/3.3 70B).</summary>
    public static ModelSpec Llama3_70B { get; } = new("llama3-70b", 8192, 80, 64, 8, 128256, 4096, 1.3, false);

    /// <summary>Llama 3.2 1B: tied embeddings.</summary>
    public static ModelSpec Llama32_1B { get; } = new("llama3.2-1b", 2048, 16, 32, 8, 128256, 256, 1.5, true);

    /// <summary>Llama 3.2 3B: tied embeddings.</summary>
    public static ModelSpec Llama32_3B { get; } = new("llama3.2-3b", 3072, 28, 24, 8, 128256, 256, 1.0, true);

    /// <summary>Named presets.</summary>
    public static IReadOnlyList<ModelSpec> Presets { get; } = [Llama3_8B, Llama3_70B, Llama32_1B, Llama32_3B];

    /// <summary>Elements per attention head.</summary>
    public int HeadDim => Dim / Heads;

    /// <summary>SwiGLU hidden size, computed exactly as Meta's reference <c>FeedForward</c> does.</summary>
    public int FfnHidden
    {
        get
        {
            int hidden = (int)(2.0 * 4 * Dim / 3);
            if (FfnDimMultiplier is double m) hidden = (int)(m * hidden);
            return MultipleOf * ((hidden + MultipleOf - 1) / MultipleOf);
        }
    }

    /// <summary>Parameters of the whole model.</summary>
    public long ParameterCount => ParametersPerShard(1);

    /// <summary>
    /// Parameters one GPU holds under tensor parallelism over <paramref name="tp"/> GPUs (Megatron-style: attention
    /// heads, SwiGLU columns and the vocabulary split; norms replicated; KV heads replicated when
    /// <paramref name="tp"/> exceeds their number).
    /// </summary>
    public long ParametersPerShard(int tp)
    {
        ValidateTensorParallel(tp);
        long dim = Dim, vocab = VocabSize;
        long q = dim * Heads * HeadDim / tp;
        long kv = 2 * dim * KvHeadsPerShard(tp) * HeadDim;
        long o = (long)Heads * HeadDim * dim / tp;
        long mlp = 3 * dim * FfnHidden / tp;
        long norms = 2 * dim;
        long perLayer = q + kv + o + mlp + norms;
        long embeddings = vocab * dim / tp * (TiedEmbeddings ? 1 : 2);
        return Layers * perLayer + embeddings + dim;
    }

    /// <summary>KV heads one GPU holds under tensor parallelism (at least one: heads are replicated past their count).</summary>
    public int KvHeadsPerShard(int tp)
    {
        ValidateTensorParallel(tp);
        return Math.Max(1, KvHeads / tp);
    }

    /// <summary>The per-GPU KV layout for <paramref name="elementBytes"/>-byte elements and <paramref name="tp"/> GPUs.</summary>
    public KvLayout KvLayout(int elementBytes, int tp = 1) => new(Layers, KvHeadsPerShard(tp), HeadDim, elementBytes);

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="tp"/> cannot split this model evenly.</summary>
    public void ValidateTensorParallel(int tp)
    {
        if (tp <= 0) throw new ArgumentOutOfRangeException(nameof(tp), tp, "Tensor parallelism must be at least 1.");
        if (Heads % tp != 0)
            throw new ArgumentException($"--tp {tp} does not divide the {Heads} attention heads of {Name}.", nameof(tp));
        if (KvHeads % tp != 0 && tp % KvHeads != 0)
            throw new ArgumentException($"--tp {tp} neither divides nor is a multiple of the {KvHeads} KV heads of {Name}.", nameof(tp));
    }

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static ModelSpec? FindPreset(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Parses Meta's <c>params.json</c> (dim, n_layers, n_heads, n_kv_heads, vocab_size, multiple_of,
    /// ffn_dim_multiplier; norm_eps and rope_theta are read but do not affect memory). Meta's file has no tie flag:
    /// a <c>tie_word_embeddings</c> key is honoured if present, otherwise the embeddings count as tied exactly when
    /// the shape matches a tied preset (Llama 3.2 1B/3B) and untied otherwise, as in Llama 3/3.1 8B/70B/405B.
    /// </summary>
    /// <exception cref="FormatException">Malformed JSON, or a required key missing or not a positive number.</exception>
    public static ModelSpec FromMetaParams(string json, string name)
    {
        JsonElement root;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new FormatException($"malformed JSON ({e.Message.Split('\n')[0].Split(" LineNumber")[0].Split(" Path:")[0].Trim()})", e);
        }
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("expected a JSON object");
        int dim = Required(root, "dim"), layers = Required(root, "n_layers"), heads = Required(root, "n_heads");
        int kvHeads = Optional(root, "n_kv_heads") ?? heads;
        int vocab = Required(root, "vocab_size");
        int multipleOf = Optional(root, "multiple_of") ?? 256;
        double? ffn = root.TryGetProperty("ffn_dim_multiplier", out JsonElement f) && f.ValueKind == JsonValueKind.Number ? f.GetDouble() : null;
        if (dim % heads != 0) throw new FormatException($"dim {dim} is not a multiple of n_heads {heads}");
        if (heads % kvHeads != 0) throw new FormatException($"n_heads {heads} is not a multiple of n_kv_heads {kvHeads}");
        var spec = new ModelSpec(name, dim, layers, heads, kvHeads, vocab, multipleOf, ffn, false);
        bool tied = root.TryGetProperty("tie_word_embeddings", out JsonElement t) && t.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? t.GetBoolean()
            : Presets.Any(p => p.TiedEmbeddings && p with { Name = name } == spec with { TiedEmbeddings = true });
        return spec with { TiedEmbeddings = tied };
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
