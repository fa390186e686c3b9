using System.Text.Json;

namespace PagedSim.Allocator.ModelConfig;

/// <summary>
/// Reads a Llama-family checkpoint's description — Meta's <c>params.json</c> or Hugging Face's <c>config.json</c> —
/// into a <see cref="LlamaArchitecture"/>. The one parser of both files: the model loader and the simulator use it.
/// Errors are <see cref="FormatException"/>s whose message names the key; callers prefix the file.
/// </summary>
public static class LlamaConfigReader
{
    /// <summary>Meta's context for Llama 3.1 / 3.2 / 3.3 (scaled RoPE); their params.json does not carry it.</summary>
    public const int MetaScaledContext = 131_072;

    /// <summary>Llama 3's context (plain RoPE).</summary>
    public const int MetaContext = 8192;

    /// <summary>Reads <paramref name="path"/>: a params.json or config.json file, or a folder holding one (also in
    /// <c>original/</c>, where Hugging Face's repositories keep Meta's files). params.json wins when both are there.</summary>
    /// <exception cref="FileNotFoundException">Neither file is there.</exception>
    /// <exception cref="FormatException">Malformed JSON or an unsupported or inconsistent model; the message names the file.</exception>
    public static LlamaArchitecture ReadFile(string path)
    {
        string file = Find(path) ?? throw new FileNotFoundException($"{path}: neither params.json (Meta) nor config.json (Hugging Face) found", path);
        byte[] bytes = File.ReadAllBytes(file);
        try
        {
            return Path.GetFileName(file) == "params.json" || (Path.GetFileName(file) != "config.json" && LooksMeta(bytes))
                ? FromMetaParams(bytes) : FromHuggingFace(bytes);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{file}: {e.Message}", e);
        }
    }

    /// <summary>The params.json or config.json that <paramref name="path"/> names or holds, or null.</summary>
    public static string? Find(string path)
    {
        if (File.Exists(path)) return path;
        if (!Directory.Exists(path)) return null;
        foreach (string dir in new[] { path, Path.Combine(path, "original") })
            foreach (string name in new[] { "params.json", "config.json" })
                if (File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
        return null;
    }

    /// <summary>
    /// Meta's <c>params.json</c>: dim, n_layers, n_heads, n_kv_heads, vocab_size, multiple_of, ffn_dim_multiplier,
    /// norm_eps, rope_theta, and <c>use_scaled_rope</c> — Llama 3.1's RoPE scaling with the constants of Meta's
    /// <c>apply_scaling</c> (<see cref="RopeScaling.Llama31"/>), each overridable by <c>rope_scaling_factor</c> and
    /// <c>rope_high_freq_factor</c> (the names of Meta's llama-models ModelArgs) and by <c>rope_low_freq_factor</c> and
    /// <c>rope_original_max_position_embeddings</c> (ours, for small test checkpoints). The context is
    /// <c>max_seq_len</c> when given, else 131,072 with scaled RoPE and 8192 without, as Meta publishes them.
    /// </summary>
    public static LlamaArchitecture FromMetaParams(ReadOnlySpan<byte> json)
    {
        JsonElement root = Parse(json);
        int dim = Int(root, "dim"), layers = Int(root, "n_layers"), heads = Int(root, "n_heads");
        int multipleOf = OptionalInt(root, "multiple_of") ?? 256;
        double? multiplier = OptionalDouble(root, "ffn_dim_multiplier");
        RopeScaling? scaling = null;
        if (OptionalBool(root, "use_scaled_rope") == true)
        {
            RopeScaling d = RopeScaling.Llama31;
            scaling = new RopeScaling(
                OptionalDouble(root, "rope_scaling_factor") ?? d.Factor,
                OptionalDouble(root, "rope_low_freq_factor") ?? d.LowFreqFactor,
                OptionalDouble(root, "rope_high_freq_factor") ?? d.HighFreqFactor,
                OptionalInt(root, "rope_original_max_position_embeddings") ?? d.OriginalMaxPositions);
        }
        var a = new LlamaArchitecture(
            dim, layers, heads, OptionalInt(root, "n_kv_heads") ?? heads, Int(root, "vocab_size"),
            LlamaArchitecture.MetaHiddenDim(dim, multipleOf, multiplier),
            OptionalDouble(root, "norm_eps") ?? 1e-5, OptionalDouble(root, "rope_theta") ?? 500000.0,
            OptionalBool(root, "tie_word_embeddings"), scaling,
            OptionalInt(root, "max_seq_len") ?? (scaling is null ? MetaContext : MetaScaledContext),
            null, multipleOf, multiplier);
        Validate(a);
        return a;
    }

    /// <summary>
    /// Hugging Face's <c>config.json</c>: hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
    /// vocab_size, intermediate_size, rms_norm_eps, tie_word_embeddings, max_position_embeddings, and RoPE in either
    /// spelling — transformers 4's <c>rope_theta</c> + <c>rope_scaling</c> or transformers 5's <c>rope_parameters</c>,
    /// typed by <c>rope_type</c> (or the older <c>type</c>). RoPE types other than <c>default</c> and <c>llama3</c>
    /// are refused. Defaults are transformers' LlamaConfig's.
    /// </summary>
    public static LlamaArchitecture FromHuggingFace(ReadOnlySpan<byte> json)
    {
        JsonElement root = Parse(json);
        string? modelType = root.TryGetProperty("model_type", out JsonElement mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
        double theta = OptionalDouble(root, "rope_theta") ?? 10000.0;
        RopeScaling? scaling = null;
        foreach (string key in (string[])["rope_scaling", "rope_parameters"])
        {
            if (!root.TryGetProperty(key, out JsonElement rope) || rope.ValueKind == JsonValueKind.Null) continue;
            if (rope.ValueKind != JsonValueKind.Object) throw new FormatException($"'{key}' must be an object, got {rope.GetRawText()}");
            theta = OptionalDouble(rope, "rope_theta", key) ?? theta;
            string type = OptionalString(rope, "rope_type", key) ?? OptionalString(rope, "type", key) ?? "default";
            if (type == "default") continue;
            if (type != "llama3")
                throw new FormatException($"'{key}' has rope_type '{type}', which is not supported (only 'default' and 'llama3')");
            scaling = new RopeScaling(
                Double(rope, "factor", key), Double(rope, "low_freq_factor", key), Double(rope, "high_freq_factor", key),
                Int(rope, "original_max_position_embeddings", key));
        }
        int dim = Int(root, "hidden_size"), heads = Int(root, "num_attention_heads");
        if (OptionalInt(root, "head_dim") is int headDim && (long)headDim * heads != dim)
            throw new FormatException($"'head_dim' {headDim} × num_attention_heads {heads} must equal hidden_size {dim}");
        var a = new LlamaArchitecture(
            dim, Int(root, "num_hidden_layers"), heads, OptionalInt(root, "num_key_value_heads") ?? heads,
            Int(root, "vocab_size"), Int(root, "intermediate_size"), OptionalDouble(root, "rms_norm_eps") ?? 1e-6, theta,
            OptionalBool(root, "tie_word_embeddings") ?? false, scaling, OptionalInt(root, "max_position_embeddings") ?? 2048,
            modelType);
        Validate(a);
        return a;
    }

    private static void Validate(LlamaArchitecture a)
    {
        if (a.Dim % a.Heads != 0) throw new FormatException($"dim {a.Dim} is not a multiple of the {a.Heads} heads");
        if (a.HeadDim % 2 != 0) throw new FormatException($"head dim {a.HeadDim} must be even for RoPE");
        if (a.Heads % a.KvHeads != 0) throw new FormatException($"{a.Heads} query heads are not a multiple of the {a.KvHeads} KV heads");
        if (!(a.NormEps > 0) || !(a.RopeTheta > 0)) throw new FormatException("norm_eps and rope_theta must be positive");
        a.RopeScaling?.Validate();
    }

    private static bool LooksMeta(byte[] bytes)
    {
        try
        {
            return Parse(bytes).TryGetProperty("n_layers", out _);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static JsonElement Parse(ReadOnlySpan<byte> json)
    {
        if (json.Trim(" \t\r\n"u8).IsEmpty) throw new FormatException("the file is empty");
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            using JsonDocument doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException("expected a JSON object");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            // The reader's own words, without its position bookkeeping (LineNumber, BytePositionInLine, isFinalBlock).
            string why = e.Message.Split('\n')[0].Split(" LineNumber")[0].Split(", when isFinalBlock")[0].Split(" Path:")[0].Trim().TrimEnd('.');
            throw new FormatException($"not valid JSON ({why}{(e.LineNumber is long line ? $" at line {line + 1}" : "")})", e);
        }
    }

    private static string Name(string key, string? parent) => parent is null ? key : $"{parent}.{key}";

    private static int Int(JsonElement e, string key, string? parent = null) =>
        OptionalInt(e, key, parent) ?? throw new FormatException($"missing '{Name(key, parent)}'");

    private static double Double(JsonElement e, string key, string? parent = null) =>
        OptionalDouble(e, key, parent) ?? throw new FormatException($"missing '{Name(key, parent)}'");

    private static int? OptionalInt(JsonElement e, string key, string? parent = null)
    {
        if (!e.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i <= 0)
            throw new FormatException($"'{Name(key, parent)}' must be a positive whole number, got {v.GetRawText()}");
        return i;
    }

    private static double? OptionalDouble(JsonElement e, string key, string? parent = null)
    {
        if (!e.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !double.IsFinite(v.GetDouble()))
            throw new FormatException($"'{Name(key, parent)}' must be a number, got {v.GetRawText()}");
        return v.GetDouble();
    }

    private static bool? OptionalBool(JsonElement e, string key)
    {
        if (!e.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"'{key}' must be true or false, got {v.GetRawText()}"),
        };
    }

    private static string? OptionalString(JsonElement e, string key, string? parent)
    {
        if (!e.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw new FormatException($"'{Name(key, parent)}' must be a string, got {v.GetRawText()}");
        return v.GetString();
    }
}
