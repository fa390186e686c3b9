using System.Text.Json;
using PagedSim.Allocator.Simulation;
using PagedSim.Model.Checkpoints;

namespace PagedSim.Model;

/// <summary>
/// The shape of a Llama 3 model, read from Meta's <c>params.json</c> or Hugging Face's <c>config.json</c>.
/// </summary>
/// <param name="Dim">Model (residual stream) width.</param>
/// <param name="Layers">Transformer layers.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (fewer than <paramref name="Heads"/> under grouped-query attention).</param>
/// <param name="VocabSize">Rows of the embedding and of the output head.</param>
/// <param name="HiddenDim">SwiGLU hidden width (see <see cref="MetaHiddenDim"/>).</param>
/// <param name="NormEps">RMSNorm epsilon.</param>
/// <param name="RopeTheta">RoPE base frequency.</param>
/// <param name="TiedEmbeddings">The output head reuses the embedding (never so for Llama 3 itself).</param>
public sealed record Llama3Config(
    int Dim, int Layers, int Heads, int KvHeads, int VocabSize, int HiddenDim,
    double NormEps, double RopeTheta, bool TiedEmbeddings = false)
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
    public static int MetaHiddenDim(int dim, int multipleOf, double? ffnDimMultiplier)
    {
        int hidden = 4 * dim;
        hidden = (int)(2.0 * hidden / 3);
        if (ffnDimMultiplier is double m) hidden = (int)(m * hidden);
        return multipleOf * ((hidden + multipleOf - 1) / multipleOf);
    }

    /// <summary>Reads Meta's <c>params.json</c>.</summary>
    /// <exception cref="CheckpointException">The file is missing, malformed, or describes an unsupported model.</exception>
    public static Llama3Config FromMetaParams(string path)
    {
        using JsonDocument doc = ReadJson(path);
        JsonElement root = doc.RootElement;
        if (Has(root, "use_scaled_rope") && root.GetProperty("use_scaled_rope").ValueKind == JsonValueKind.True)
            throw new CheckpointException($"{path}: use_scaled_rope (Llama 3.1 RoPE scaling) is not supported yet");
        int dim = Int(root, "dim", path);
        int heads = Int(root, "n_heads", path);
        double? multiplier = Has(root, "ffn_dim_multiplier") && root.GetProperty("ffn_dim_multiplier").ValueKind != JsonValueKind.Null
            ? Double(root, "ffn_dim_multiplier", path) : null;
        var config = new Llama3Config(
            dim,
            Int(root, "n_layers", path),
            heads,
            Has(root, "n_kv_heads") ? Int(root, "n_kv_heads", path) : heads,
            Int(root, "vocab_size", path),
            MetaHiddenDim(dim, Int(root, "multiple_of", path), multiplier),
            Double(root, "norm_eps", path),
            Has(root, "rope_theta") ? Double(root, "rope_theta", path) : 500000.0);
        config.Validate(path);
        return config;
    }

    /// <summary>Reads Hugging Face's <c>config.json</c> (transformers 4.x <c>rope_theta</c> or 5.x <c>rope_parameters</c>).</summary>
    /// <exception cref="CheckpointException">The file is missing, malformed, or describes an unsupported model.</exception>
    public static Llama3Config FromHuggingFace(string path)
    {
        using JsonDocument doc = ReadJson(path);
        JsonElement root = doc.RootElement;
        if (Has(root, "model_type") && root.GetProperty("model_type").GetString() != "llama")
            throw new CheckpointException($"{path}: model_type is '{root.GetProperty("model_type").GetString()}', expected 'llama'");
        double theta = 10000.0; // transformers' default
        if (Has(root, "rope_theta")) theta = Double(root, "rope_theta", path);
        foreach (string key in (string[])["rope_parameters", "rope_scaling"])
        {
            if (!Has(root, key) || root.GetProperty(key).ValueKind != JsonValueKind.Object) continue;
            JsonElement rope = root.GetProperty(key);
            if (Has(rope, "rope_type") && rope.GetProperty("rope_type").GetString() is string type && type != "default")
                throw new CheckpointException($"{path}: {key}.rope_type '{type}' (RoPE scaling) is not supported yet");
            if (Has(rope, "rope_theta")) theta = Double(rope, "rope_theta", path);
        }
        int dim = Int(root, "hidden_size", path);
        int heads = Int(root, "num_attention_heads", path);
        if (Has(root, "head_dim") && root.GetProperty("head_dim").ValueKind == JsonValueKind.Number && Int(root, "head_dim", path) * heads != dim)
            throw new CheckpointException($"{path}: head_dim × num_attention_heads must equal hidden_size ({dim})");
        var config = new Llama3Config(
            dim,
            Int(root, "num_hidden_layers", path),
            heads,
            Has(root, "num_key_value_heads") ? Int(root, "num_key_value_heads", path) : heads,
            Int(root, "vocab_size", path),
            Int(root, "intermediate_size", path),
            Double(root, "rms_norm_eps", path),
            theta,
            Has(root, "tie_word_embeddings") && root.GetProperty("tie_word_embeddings").ValueKind == JsonValueKind.True);
        config.Validate(path);
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
    }

    private static JsonDocument ReadJson(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    private static bool Has(JsonElement e, string name) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out _);

    private static int Int(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out JsonElement v)) throw new CheckpointException($"{path}: missing '{name}'");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i))
            throw new CheckpointException($"{path}: '{name}' must be an integer, got {v.GetRawText()}");
        return i;
    }

    private static double Double(JsonElement e, string name, string path)
    {
        if (!e.TryGetProperty(name, out JsonElement v)) throw new CheckpointException($"{path}: missing '{name}'");
        if (v.ValueKind != JsonValueKind.Number) throw new CheckpointException($"{path}: '{name}' must be a number, got {v.GetRawText()}");
        return v.GetDouble();
    }
}
