using PagedSim.Allocator.ModelConfig;

namespace PagedSim.Allocator.Simulation;

/// <summary>
/// A Llama-family decoder's architecture, as its <c>params.json</c> or <c>config.json</c> gives it: enough to count
/// weights and KV bytes.
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
/// <param name="MaxSequenceLength">Longest sequence the runtime allows: the model's context (8192 for Llama 3,
/// 131,072 for 3.1/3.2/3.3), or less where a user caps it (vLLM's max_model_len); the naive cache reserves this much
/// per request and the paged block table is this wide.</param>
/// <param name="HiddenDim">The SwiGLU hidden size when a config gives it outright (Hugging Face's intermediate_size);
/// null to compute it from <paramref name="MultipleOf"/> and <paramref name="FfnDimMultiplier"/>.</param>
public sealed record ModelSpec(
    string Name, int Dim, int Layers, int Heads, int KvHeads, int VocabSize, int MultipleOf, double? FfnDimMultiplier,
    bool TiedEmbeddings, int MaxSequenceLength = 8192, int? HiddenDim = null)
{
    /// <summary>Llama 3 8B: untied output head, 8.03B parameters, 8192 context.</summary>
    public static ModelSpec Llama3_8B { get; } = new("llama3-8b", 4096, 32, 32, 8, 128256, 1024, 1.3, false);

    /// <summary>Llama 3 70B.</summary>
    public static ModelSpec Llama3_70B { get; } = new("llama3-70b", 8192, 80, 64, 8, 128256, 4096, 1.3, false);

    /// <summary>Llama 3.1 8B: Llama 3 8B's shape with scaled RoPE and a 131,072-token context.</summary>
    public static ModelSpec Llama31_8B { get; } = Llama3_8B with { Name = "llama3.1-8b", MaxSequenceLength = LlamaConfigReader.MetaScaledContext };

    /// <summary>Llama 3.1 70B.</summary>
    public static ModelSpec Llama31_70B { get; } = Llama3_70B with { Name = "llama3.1-70b", MaxSequenceLength = LlamaConfigReader.MetaScaledContext };

    /// <summary>Llama 3.1 405B (Meta's params.json: dim 16384, 126 layers, 128 heads, 8 KV heads, multiplier 1.2, multiple_of 4096).</summary>
    public static ModelSpec Llama31_405B { get; } = new("llama3.1-405b", 16384, 126, 128, 8, 128256, 4096, 1.2, false, LlamaConfigReader.MetaScaledContext);

    /// <summary>Llama 3.2 1B: tied embeddings.</summary>
    public static ModelSpec Llama32_1B { get; } = new("llama3.2-1b", 2048, 16, 32, 8, 128256, 256, 1.5, true, LlamaConfigReader.MetaScaledContext);

    /// <summary>Llama 3.2 3B: tied embeddings.</summary>
    public static ModelSpec Llama32_3B { get; } = new("llama3.2-3b", 3072, 28, 24, 8, 128256, 256, 1.0, true, LlamaConfigReader.MetaScaledContext);

    /// <summary>Llama 3.3 70B: Llama 3.1 70B's shape.</summary>
    public static ModelSpec Llama33_70B { get; } = Llama31_70B with { Name = "llama3.3-70b" };

    /// <summary>Named presets.</summary>
    public static IReadOnlyList<ModelSpec> Presets { get; } =
        [Llama3_8B, Llama3_70B, Llama31_8B, Llama31_70B, Llama31_405B, Llama32_1B, Llama32_3B, Llama33_70B];

    /// <summary>Elements per attention head.</summary>
    public int HeadDim => Dim / Heads;

    /// <summary>SwiGLU hidden size: <see cref="HiddenDim"/>, or computed exactly as Meta's reference <c>FeedForward</c> does.</summary>
    public int FfnHidden => HiddenDim ?? LlamaArchitecture.MetaHiddenDim(Dim, MultipleOf, FfnDimMultiplier);

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
    /// Parses Meta's <c>params.json</c> (see <see cref="LlamaConfigReader.FromMetaParams"/>). Meta's file has no tie
    /// flag: a <c>tie_word_embeddings</c> key is honoured if present, otherwise the embeddings count as tied exactly
    /// when the shape matches a tied preset (Llama 3.2 1B/3B) and untied otherwise, as in Llama 3/3.1 8B/70B/405B.
    /// </summary>
    /// <exception cref="FormatException">Malformed JSON, or a required key missing or not a positive number.</exception>
    public static ModelSpec FromMetaParams(string json, string name) =>
        FromArchitecture(LlamaConfigReader.FromMetaParams(System.Text.Encoding.UTF8.GetBytes(json)), name);

    /// <summary>Parses Hugging Face's <c>config.json</c> of a Llama-family model (see <see cref="LlamaConfigReader.FromHuggingFace"/>).</summary>
    /// <exception cref="FormatException">Malformed JSON, a required key missing, or an unsupported RoPE type.</exception>
    public static ModelSpec FromHuggingFace(string json, string name) =>
        FromArchitecture(LlamaConfigReader.FromHuggingFace(System.Text.Encoding.UTF8.GetBytes(json)), name);

    /// <summary>The spec of a checkpoint's architecture; an unknown tie flag is decided by the tied presets' shapes.</summary>
    public static ModelSpec FromArchitecture(LlamaArchitecture a, string name)
    {
        var spec = new ModelSpec(name, a.Dim, a.Layers, a.Heads, a.KvHeads, a.VocabSize, a.MultipleOf ?? 256, a.FfnDimMultiplier,
            a.TiedEmbeddings ?? false, a.MaxPositions, a.MultipleOf is null ? a.HiddenDim : null);
        return a.TiedEmbeddings is not null ? spec
            : spec with { TiedEmbeddings = Presets.Any(p => p.TiedEmbeddings && p.SameShape(spec)) };
    }

    private bool SameShape(ModelSpec o) =>
        (Dim, Layers, Heads, KvHeads, VocabSize, FfnHidden) == (o.Dim, o.Layers, o.Heads, o.KvHeads, o.VocabSize, o.FfnHidden);
}
