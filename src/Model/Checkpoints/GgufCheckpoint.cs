using static TorchSharp.torch;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// A Llama-architecture GGUF file (llama.cpp's layout): hyperparameters from the <c>llama.*</c> metadata, tensors
/// renamed from llama.cpp's names (<c>token_embd</c>, <c>blk.N.attn_q</c>, …) to Meta's. The q/k rows need no
/// permutation: llama.cpp's converter undoes transformers' rotate-half permutation, so GGUF stores Meta's interleaved
/// RoPE pairs, which is what this model applies (a GGUF made from the Meta and the HF tiny checkpoints gives the same
/// logits as both). The output head is the token embedding when <c>output.weight</c> is absent (tied).
/// </summary>
internal static class GgufCheckpoint
{
    /// <summary>The model's shape from the metadata.</summary>
    /// <exception cref="CheckpointException">Not a Llama GGUF, or a missing, mistyped or inconsistent value.</exception>
    public static Llama3Config ReadConfig(GgufFile f)
    {
        string arch = GgufMetadata.TryString(f, "general.architecture") ?? throw new CheckpointException($"{f.Path}: missing metadata 'general.architecture'");
        if (arch != "llama") throw new CheckpointException($"{f.Path}: general.architecture is '{arch}'; only 'llama' is supported");
        if (f.Tensors.ContainsKey("rope_freqs.weight") || GgufMetadata.TryString(f, "llama.rope.scaling.type") is string s && s != "none")
            throw new CheckpointException($"{f.Path}: RoPE scaling (rope_freqs.weight or llama.rope.scaling.type) is not supported yet");
        int dim = GgufMetadata.Int(f, "llama.embedding_length");
        int heads = GgufMetadata.Int(f, "llama.attention.head_count");
        int vocab = GgufMetadata.TryInt(f, "llama.vocab_size")
            ?? GgufMetadata.TryArray<string>(f, "tokenizer.ggml.tokens")?.Length
            ?? (f.Tensors.TryGetValue("token_embd.weight", out GgufTensorInfo? e) && e.Dims.Length == 2 && e.Dims[1] <= int.MaxValue ? (int)e.Dims[1] : 0);
        var config = new Llama3Config(
            dim,
            GgufMetadata.Int(f, "llama.block_count"),
            heads,
            GgufMetadata.TryInt(f, "llama.attention.head_count_kv") ?? heads,
            vocab,
            GgufMetadata.Int(f, "llama.feed_forward_length"),
            GgufMetadata.TryDouble(f, "llama.attention.layer_norm_rms_epsilon") ?? throw new CheckpointException($"{f.Path}: missing metadata 'llama.attention.layer_norm_rms_epsilon'"),
            GgufMetadata.TryDouble(f, "llama.rope.freq_base") ?? 10000.0, // llama.cpp's default
            TiedEmbeddings: !f.Tensors.ContainsKey("output.weight"),
            MaxPositions: ContextLength(f) ?? 8192);
        config.Validate(f.Path);
        if (GgufMetadata.TryInt(f, "llama.rope.dimension_count") is int ropeDims && ropeDims != config.HeadDim)
            throw new CheckpointException($"{f.Path}: llama.rope.dimension_count {ropeDims} differs from the head size {config.HeadDim} (partial RoPE is not supported)");
        return config;
    }

    /// <summary>The context length the model was made for (<c>llama.context_length</c>), or null when absent.</summary>
    public static int? ContextLength(GgufFile f) => GgufMetadata.TryInt(f, "llama.context_length");

    /// <summary>
    /// Reads every tensor the model needs, in Meta names and row order, on the CPU. Shapes are checked on the infos
    /// before any tensor is created.
    /// </summary>
    public static Dictionary<string, Tensor> Read(GgufFile f, Llama3Config config)
    {
        var plan = new List<(string Meta, GgufTensorInfo Info)>();
        foreach ((string meta, long[] shape) in MetaNames.Expected(config))
        {
            string name = GgufName(meta);
            if (!f.Tensors.TryGetValue(name, out GgufTensorInfo? info)) throw new CheckpointException($"{f.Path}: missing tensor '{name}'");
            if (!info.TorchShape.AsSpan().SequenceEqual(shape))
                throw new CheckpointException($"{f.Path}: tensor '{name}' has shape {MetaNames.Format(info.TorchShape)}; expected {MetaNames.Format(shape)}");
            plan.Add((meta, info));
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach ((string meta, GgufTensorInfo info) in plan) result[meta] = GgufTensorReader.Read(f, info);
            return result;
        }
        catch
        {
            foreach (Tensor t in result.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Meta's tensor name → llama.cpp's.</summary>
    public static string GgufName(string meta)
    {
        if (meta == "tok_embeddings.weight") return "token_embd.weight";
        if (meta == "norm.weight") return "output_norm.weight";
        if (meta == "output.weight") return "output.weight";
        int dot = meta.IndexOf('.', "layers.".Length);
        string layer = meta["layers.".Length..dot], rest = meta[(dot + 1)..];
        string name = rest switch
        {
            "attention_norm.weight" => "attn_norm",
            "attention.wq.weight" => "attn_q",
            "attention.wk.weight" => "attn_k",
            "attention.wv.weight" => "attn_v",
            "attention.wo.weight" => "attn_output",
            "ffn_norm.weight" => "ffn_norm",
            "feed_forward.w1.weight" => "ffn_gate",
            "feed_forward.w2.weight" => "ffn_down",
            "feed_forward.w3.weight" => "ffn_up",
            _ => throw new ArgumentException($"Unknown Meta tensor name '{meta}'.", nameof(meta)),
        };
        return $"blk.{layer}.{name}.weight";
    }
}
