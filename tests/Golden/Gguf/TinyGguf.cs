using PagedSim.Model;
using PagedSim.Model.Checkpoints;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Gguf;

/// <summary>
/// fixtures/tiny-llama converted to GGUF in test code, as llama.cpp's converters write it: llama.cpp's tensor names
/// (spelled out here, not taken from the loader), ggml's reversed dimensions, and for Hugging Face's layout the
/// q/k rows passed through convert_hf_to_gguf.py's <c>permute</c> (which undoes transformers' rotate-half order).
/// </summary>
internal static class TinyGguf
{
    public static Llama3Config Config => Llama3Config.FromMetaParams(Path.Combine(TinyLlamaFixture.Root, "meta", "params.json"));

    /// <summary>Meta's names → llama.cpp's (the table of llama.cpp's gguf-py tensor_mapping for LLAMA).</summary>
    private static readonly (string Meta, string Gguf)[] s_layerNames =
    [
        ("attention_norm.weight", "attn_norm.weight"), ("attention.wq.weight", "attn_q.weight"), ("attention.wk.weight", "attn_k.weight"),
        ("attention.wv.weight", "attn_v.weight"), ("attention.wo.weight", "attn_output.weight"), ("ffn_norm.weight", "ffn_norm.weight"),
        ("feed_forward.w1.weight", "ffn_gate.weight"), ("feed_forward.w2.weight", "ffn_down.weight"), ("feed_forward.w3.weight", "ffn_up.weight"),
    ];

    /// <summary>The one-shard Meta checkpoint's tensors (Meta names).</summary>
    public static Dictionary<string, Tensor> MetaTensors() => MetaCheckpoint.Read(Path.Combine(TinyLlamaFixture.Root, "meta"), Config);

    /// <summary>The Hugging Face checkpoint's tensors, by Meta name but in HF's q/k row order (read without the loader's unpermute).</summary>
    public static Dictionary<string, Tensor> HfTensorsAsStored()
    {
        var byHfName = new Dictionary<string, Tensor>();
        foreach (string f in Directory.GetFiles(Path.Combine(TinyLlamaFixture.Root, "hf"), "*.safetensors"))
            foreach (var (k, v) in TorchSharp.PyBridge.Safetensors.LoadStateDict(f)) byHfName[k] = v;
        return MetaNames.Expected(Config).ToDictionary(e => e.Name, e => byHfName[HfCheckpoint.HfName(e.Name)]);
    }

    /// <summary>convert_hf_to_gguf.py's LlamaModel.permute: reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).</summary>
    public static Tensor LlamaCppPermute(Tensor w, int heads) =>
        w.reshape(heads, 2, w.shape[0] / heads / 2, w.shape[1]).swapaxes(1, 2).reshape(w.shape[0], w.shape[1]).contiguous();

    /// <summary>
    /// A GGUF writer holding the model: metadata as llama.cpp writes it, tensors of <paramref name="type"/> (norms
    /// always F32, as llama.cpp keeps 1-D tensors), without <c>output.weight</c> when <paramref name="tied"/>.
    /// </summary>
    public static GgufWriter Writer(IReadOnlyDictionary<string, Tensor> meta, string type = "F32", bool tied = false, Llama3Config? config = null)
    {
        Llama3Config c = config ?? Config;
        var w = new GgufWriter()
            .Add("general.architecture", "llama")
            .Add("general.name", "tiny-llama")
            .Add("llama.context_length", 512u)
            .Add("llama.embedding_length", (uint)c.Dim)
            .Add("llama.block_count", (uint)c.Layers)
            .Add("llama.feed_forward_length", (uint)c.HiddenDim)
            .Add("llama.rope.dimension_count", (uint)c.HeadDim)
            .Add("llama.attention.head_count", (uint)c.Heads)
            .Add("llama.attention.head_count_kv", (uint)c.KvHeads)
            .Add("llama.attention.layer_norm_rms_epsilon", (float)c.NormEps)
            .Add("llama.rope.freq_base", (float)c.RopeTheta)
            .Add("llama.vocab_size", (uint)c.VocabSize);
        string T(Tensor t) => t.dim() == 1 ? "F32" : type;
        w.Tensor("token_embd.weight", meta["tok_embeddings.weight"], T(meta["tok_embeddings.weight"]));
        for (int i = 0; i < c.Layers; i++)
            foreach ((string m, string g) in s_layerNames)
                w.Tensor($"blk.{i}.{g}", meta[$"layers.{i}.{m}"], T(meta[$"layers.{i}.{m}"]));
        w.Tensor("output_norm.weight", meta["norm.weight"]);
        if (!tied) w.Tensor("output.weight", meta["output.weight"], type);
        return w;
    }
}
