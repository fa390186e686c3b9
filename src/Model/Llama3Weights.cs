using PagedSim.Model.Checkpoints;
using static TorchSharp.torch;

namespace PagedSim.Model;

/// <summary>All weights of a Llama 3 model on one device in one dtype, fused per layer (see <see cref="LayerWeights"/>).</summary>
public sealed class Llama3Weights : IDisposable
{
    private Llama3Weights(Tensor embedding, LayerWeights[] layers, Tensor norm, Tensor output)
    {
        Embedding = embedding;
        Layers = layers;
        Norm = norm;
        Output = output;
    }

    /// <summary>Token embedding [vocab, dim].</summary>
    public Tensor Embedding { get; }

    /// <summary>Per-layer weights.</summary>
    public IReadOnlyList<LayerWeights> Layers { get; }

    /// <summary>Final RMSNorm weight [dim].</summary>
    public Tensor Norm { get; }

    /// <summary>Output head [vocab, dim] (the embedding itself when tied).</summary>
    public Tensor Output { get; }

    /// <summary>
    /// Reads a checkpoint: a GGUF file, or a directory in Meta's layout (<c>params.json</c>) or Hugging Face's
    /// (<c>config.json</c>); see <see cref="Checkpoint"/>. Returns the config with the weights.
    /// </summary>
    /// <exception cref="CheckpointException">Missing file or tensor, wrong shape or dtype, truncated or corrupt file.</exception>
    public static (Llama3Config Config, Llama3Weights Weights) Load(string path, Device device, ScalarType dtype)
    {
        (Llama3Config config, Dictionary<string, Tensor> tensors) = Checkpoint.Read(path);
        try
        {
            return (config, FromMetaTensors(config, tensors, device, dtype));
        }
        finally
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Wraps tensors that are already fused, on their device and in their dtype (e.g. synthetic weights created in
    /// place); the new object owns them.
    /// </summary>
    public static Llama3Weights FromFused(Tensor embedding, LayerWeights[] layers, Tensor norm, Tensor output) =>
        new(embedding, layers, norm, output);

    /// <summary>Fuses and converts tensors named as in Meta's checkpoints (shapes already checked). The inputs stay the caller's.</summary>
    public static Llama3Weights FromMetaTensors(Llama3Config config, IReadOnlyDictionary<string, Tensor> t, Device device, ScalarType dtype)
    {
        Tensor Move(Tensor x)
        {
            Tensor y = x.to(dtype, device).contiguous();
            if (ReferenceEquals(y, x)) y = x.clone(); // never hand out the caller's tensor
            return y.DetachFromDisposeScope();
        }
        var layers = new LayerWeights[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            string p = $"layers.{i}.";
            using var scope = NewDisposeScope();
            layers[i] = new LayerWeights(
                Move(t[p + "attention_norm.weight"]),
                Move(cat([t[p + "attention.wq.weight"], t[p + "attention.wk.weight"], t[p + "attention.wv.weight"]], 0)),
                Move(t[p + "attention.wo.weight"]),
                Move(t[p + "ffn_norm.weight"]),
                Move(cat([t[p + "feed_forward.w1.weight"], t[p + "feed_forward.w3.weight"]], 0)),
                Move(t[p + "feed_forward.w2.weight"]));
        }
        using (NewDisposeScope())
        {
            Tensor embedding = Move(t["tok_embeddings.weight"]);
            // Tied: the head is the embedding tensor itself, held once, as the checkpoint holds it.
            Tensor output = config.TiedEmbeddings ? embedding : Move(t["output.weight"]);
            return new Llama3Weights(embedding, layers, Move(t["norm.weight"]), output);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Embedding.Dispose();
        foreach (LayerWeights l in Layers) l.Dispose();
        Norm.Dispose();
        if (!ReferenceEquals(Output, Embedding)) Output.Dispose();
    }
}
