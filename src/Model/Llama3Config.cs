using PagedSim.Allocator.ModelConfig;
using PagedSim.Allocator.Simulation;
using PagedSim.Model.Checkpoints;

namespace PagedSim.Model;

/// <summary>
/// The shape of a Llama 3 model, read from Meta's <c>params.json</c> or Hugging Face's <c>config.json</c> (both parsed
/// by the allocator's <see cref="LlamaConfigReader"/>, which the simulator shares).
/// </summary>
/// <param name="Dim">Model (residual stream) width.</param>
/// <param name="Layers">Transformer layers.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (fewer than <paramref name="Heads"/> under grouped-query attention).</param>
/// <param name="VocabSize">Rows of the embedding and of the output head.</param>
/// <param name="HiddenDim">SwiGLU hidden width (see <see cref="MetaHiddenDim"/>).</param>
/// <param name="NormEps">RMSNorm epsilon.</param>
/// <param name="RopeTheta">RoPE base frequency.</param>
/// <param name="TiedEmbeddings">The output head is the embedding (Llama 3.2 1B/3B; never so for Llama 3 itself).</param>
/// <param name="RopeScaling">Llama 3.1's RoPE scaling (<c>llama3</c>), or null for Llama 3's plain RoPE.</param>
/// <param name="MaxPositions">The checkpoint's context: 8192 for Llama 3, 131,072 for 3.1 / 3.2 / 3.3.</param>
public sealed record Llama3Config(
    int Dim, int Layers, int Heads, int KvHeads, int VocabSize, int HiddenDim,
    double NormEps, double RopeTheta, bool TiedEmbeddings = false, RopeScaling? RopeScaling = null, int MaxPositions = 8192)
{
    private readonly int _headDim;

    /// <summary>
    /// Elements per attention head: <see cref="Dim"/> / <see cref="Heads"/>, unless set. A tensor-parallel rank's
    /// shape (<see cref="Parallel.ShardingPlan.Local"/>) sets it, since that rank holds fewer heads of the same width.
    /// </summary>
    public int HeadDim { get => _headDim > 0 ? _headDim : Dim / Heads; init => _headDim = value; }

    /// <summary>Query heads sharing one key/value head.</summary>
    public int GroupSize => Heads / KvHeads;

    /// <summary>
    /// The FFN hidden size exactly as Meta's <c>FeedForward</c> computes it: 4·dim, two thirds of that (truncated),
    /// times ffn_dim_multiplier (truncated), rounded up to a multiple of multiple_of.
    /// Llama 3 8B: dim 4096, multiplier 1.3, multiple_of 1024 → 14336.
    /// </summary>
    public static int MetaHiddenDim(int dim, int multipleOf, double? ffnDimMultiplier) =>
        LlamaArchitecture.MetaHiddenDim(dim, multipleOf, ffnDimMultiplier);

    /// <summary>Reads Meta's <c>params.json</c> (see <see cref="LlamaConfigReader.FromMetaParams"/>: <c>use_scaled_rope</c>,
    /// the context). Meta's file has no tie flag; its checkpoints carry <c>output.weight</c>.</summary>
    /// <exception cref="CheckpointException">The file is missing, malformed, or describes an unsupported model.</exception>
    public static Llama3Config FromMetaParams(string path) => From(path, LlamaConfigReader.FromMetaParams);

    /// <summary>Reads Hugging Face's <c>config.json</c> (transformers 4.x <c>rope_theta</c> + <c>rope_scaling</c>, or 5.x
    /// <c>rope_parameters</c>; <c>tie_word_embeddings</c>; <c>max_position_embeddings</c>).</summary>
    /// <exception cref="CheckpointException">The file is missing, malformed, or describes an unsupported model.</exception>
    public static Llama3Config FromHuggingFace(string path)
    {
        Llama3Config config = From(path, LlamaConfigReader.FromHuggingFace, out string? modelType);
        if (modelType is not null && modelType != "llama")
            throw new CheckpointException($"{path}: model_type is '{modelType}', expected 'llama'");
        return config;
    }

    /// <summary>
    /// The simulator's spec of this shape (for its memory predictions): Meta's hidden-size rule is given
    /// multiple_of = <see cref="HiddenDim"/> and a multiplier that lands on it.
    /// </summary>
    public ModelSpec ToModelSpec(string name, int maxSequenceLength = 8192)
    {
        var spec = new ModelSpec(name, Dim, Layers, Heads, KvHeads, VocabSize, HiddenDim, HiddenDim / (double)(int)(8.0 * Dim / 3), TiedEmbeddings, maxSequenceLength);
        return spec.FfnHidden == HiddenDim ? spec : throw new InvalidOperationException($"The spec's SwiGLU width {spec.FfnHidden} is not {HiddenDim}.");
    }

    /// <summary>Throws <see cref="CheckpointException"/> naming <paramref name="source"/> when the shape is inconsistent.</summary>
    public void Validate(string source)
    {
        if (Dim <= 0 || Layers <= 0 || Heads <= 0 || KvHeads <= 0 || VocabSize <= 0 || HiddenDim <= 0)
            throw new CheckpointException($"{source}: dimensions, layers, heads and vocab_size must be positive");
        if (Dim % Heads != 0) throw new CheckpointException($"{source}: dim {Dim} is not a multiple of the {Heads} heads");
        if (HeadDim % 2 != 0) throw new CheckpointException($"{source}: head dim {HeadDim} must be even for RoPE");
        if (Heads % KvHeads != 0) throw new CheckpointException($"{source}: {Heads} query heads are not a multiple of the {KvHeads} KV heads");
        if (!(NormEps > 0) || !(RopeTheta > 0)) throw new CheckpointException($"{source}: norm_eps and rope_theta must be positive");
        if (MaxPositions <= 0) throw new CheckpointException($"{source}: the context length must be positive");
    }

    private delegate LlamaArchitecture Parser(ReadOnlySpan<byte> json);

    private static Llama3Config From(string path, Parser parse) => From(path, parse, out _);

    private static Llama3Config From(string path, Parser parse, out string? modelType)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        LlamaArchitecture a;
        try
        {
            a = parse(File.ReadAllBytes(path));
        }
        catch (FormatException e)
        {
            throw new CheckpointException($"{path}: {e.Message}", e);
        }
        modelType = a.ModelType;
        var config = new Llama3Config(a.Dim, a.Layers, a.Heads, a.KvHeads, a.VocabSize, a.HiddenDim, a.NormEps, a.RopeTheta,
            a.TiedEmbeddings ?? false, a.RopeScaling, a.MaxPositions);
        config.Validate(path);
        return config;
    }
}
