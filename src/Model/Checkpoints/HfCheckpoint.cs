using System.Text.Json;
using static TorchSharp.torch;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// Hugging Face's layout: <c>config.json</c> + <c>model.safetensors</c>, or several <c>model-NNNNN-of-NNNNN.safetensors</c>
/// named by <c>model.safetensors.index.json</c>. Tensors are renamed to Meta's names, and the q/k rows are put back
/// in Meta's order: transformers' conversion script permutes them so that its rotate-half RoPE matches Meta's
/// interleaved pairs.
/// </summary>
internal static class HfCheckpoint
{
    /// <summary>Reads every tensor the model needs, in Meta names and row order, in the files' dtype, on the CPU.</summary>
    public static Dictionary<string, Tensor> Read(string directory, Llama3Config config)
    {
        Dictionary<string, SafetensorsFile> byName = Index(directory);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach ((string meta, long[] shape) in MetaNames.Expected(config))
            {
                string hf = HfName(meta);
                if (!byName.TryGetValue(hf, out SafetensorsFile? file))
                    throw new CheckpointException($"{directory}: missing tensor '{hf}' (not in {FileList(byName)})");
                if (!file.Contains(hf)) throw new CheckpointException($"{file.Path}: missing tensor '{hf}' (the index names this file)");
                Tensor t = file.Read(hf);
                try
                {
                    TensorChecks.Check(t, hf, file.Path, shape);
                }
                catch
                {
                    t.Dispose();
                    throw;
                }
                if (meta.EndsWith("attention.wq.weight", StringComparison.Ordinal)) t = Unpermute(t, config.Heads);
                else if (meta.EndsWith("attention.wk.weight", StringComparison.Ordinal)) t = Unpermute(t, config.KvHeads);
                result[meta] = t;
            }
            return result;
        }
        catch
        {
            foreach (Tensor t in result.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Meta's tensor name → Hugging Face's.</summary>
    public static string HfName(string meta)
    {
        if (meta == "tok_embeddings.weight") return "model.embed_tokens.weight";
        if (meta == "norm.weight") return "model.norm.weight";
        if (meta == "output.weight") return "lm_head.weight";
        // layers.{i}.<rest>
        int dot = meta.IndexOf('.', "layers.".Length);
        string layer = meta[..dot], rest = meta[(dot + 1)..];
        string hf = rest switch
        {
            "attention.wq.weight" => "self_attn.q_proj.weight",
            "attention.wk.weight" => "self_attn.k_proj.weight",
            "attention.wv.weight" => "self_attn.v_proj.weight",
            "attention.wo.weight" => "self_attn.o_proj.weight",
            "feed_forward.w1.weight" => "mlp.gate_proj.weight",
            "feed_forward.w2.weight" => "mlp.down_proj.weight",
            "feed_forward.w3.weight" => "mlp.up_proj.weight",
            "attention_norm.weight" => "input_layernorm.weight",
            "ffn_norm.weight" => "post_attention_layernorm.weight",
            _ => throw new ArgumentException($"Unknown Meta tensor name '{meta}'.", nameof(meta)),
        };
        return $"model.{layer}.{hf}";
    }

    /// <summary>
    /// Inverse of transformers' <c>permute(w, n_heads)</c> = <c>w.view(n, d/n/2, 2, in).transpose(1, 2)</c>:
    /// within each head, HF stores the first elements of all RoPE pairs, then the second ones.
    /// </summary>
    public static Tensor Unpermute(Tensor w, int heads)
    {
        long rows = w.shape[0], cols = w.shape[1];
        using (w)
            return w.view(heads, 2, rows / heads / 2, cols).transpose(1, 2).reshape(rows, cols).contiguous();
    }

    private static string FileList(Dictionary<string, SafetensorsFile> byName) =>
        string.Join(", ", byName.Values.Select(f => Path.GetFileName(f.Path)).Distinct().Order(StringComparer.Ordinal));

    /// <summary>HF tensor name → the file holding it.</summary>
    private static Dictionary<string, SafetensorsFile> Index(string directory)
    {
        var byName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        string index = Path.Combine(directory, "model.safetensors.index.json");
        if (File.Exists(index))
        {
            var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            try
            {
                using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(index));
                foreach (JsonProperty p in doc.RootElement.GetProperty("weight_map").EnumerateObject())
                {
                    string fileName = p.Value.GetString() ?? throw new CheckpointException($"{index}: weight_map entry '{p.Name}' is not a file name");
                    if (!files.TryGetValue(fileName, out SafetensorsFile? file))
                        files[fileName] = file = SafetensorsFile.Open(Path.Combine(directory, fileName));
                    byName[p.Name] = file;
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new CheckpointException($"{index}: malformed index ({e.Message})", e);
            }
            return byName;
        }
        string[] all = Directory.GetFiles(directory, "*.safetensors").Order(StringComparer.Ordinal).ToArray();
        if (all.Length == 0) throw new CheckpointException($"{directory}: no *.safetensors files next to config.json");
        foreach (string path in all)
        {
            SafetensorsFile file = SafetensorsFile.Open(path);
            foreach (string name in file.Names) byName[name] = file;
        }
        return byName;
    }
}
