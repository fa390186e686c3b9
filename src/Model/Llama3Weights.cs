using PagedSim.Model.Checkpoints;
using PagedSim.Model.Parallel;
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
        (Llama3Config config, Llama3Weights[] weights) = LoadShards(path, [device], dtype);
        return (config, weights[0]);
    }

    /// <summary>
    /// Reads a checkpoint once and gives each of <paramref name="devices"/>.Count tensor-parallel ranks its shard on
    /// its device (<see cref="ShardingPlan"/>): the host holds the checkpoint while the shards are cut, no device
    /// ever holds more than its rank's share. One device gives the whole model.
    /// </summary>
    /// <exception cref="CheckpointException">As <see cref="Load"/>; or the model cannot be split into that many ranks.</exception>
    public static (Llama3Config Config, Llama3Weights[] Shards) LoadShards(string path, IReadOnlyList<Device> devices, ScalarType dtype)
    {
        (Llama3Config config, Dictionary<string, Tensor> tensors) = Checkpoint.Read(path);
        try
        {
            if (devices.Count == 1) return (config, [FromMetaTensors(config, tensors, devices[0], dtype)]);
            if (ShardingPlan.WhyNot(config, devices.Count) is string why) throw new CheckpointException($"{path}: {why}");
            var plan = new ShardingPlan(config, devices.Count);
            var shards = new List<Llama3Weights>();
            try
            {
                for (int r = 0; r < devices.Count; r++) shards.Add(FromMetaTensors(config, tensors, devices[r], dtype, plan, r));
            }
            catch
            {
                foreach (Llama3Weights w in shards) w.Dispose();
                throw;
            }
            return (config, [.. shards]);
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

    /// <summary>
    /// Fuses and converts tensors named as in Meta's checkpoints (shapes already checked). The inputs stay the caller's.
    /// With <paramref name="plan"/>, only rank <paramref name="rank"/>'s shard is kept: each fused matrix is cut on the
    /// host before it moves to <paramref name="device"/>.
    /// </summary>
    public static Llama3Weights FromMetaTensors(Llama3Config config, IReadOnlyDictionary<string, Tensor> t, Device device, ScalarType dtype,
        ShardingPlan? plan = null, int rank = 0)
    {
        Tensor Move(Tensor x)
        {
            Tensor y = x.to(dtype, device).contiguous();
            if (ReferenceEquals(y, x)) y = x.clone(); // never hand out the caller's tensor
            return y.DetachFromDisposeScope();
        }
        Tensor Qkv(Tensor full) => plan is null ? full : plan.Qkv(full, rank);
        Tensor GateUp(Tensor full) => plan is null ? full : plan.GateUp(full, rank);
        Tensor Columns(Tensor full) => plan is null ? full : plan.InputColumns(full, rank);
        Tensor Vocab(Tensor full) => plan is null ? full : plan.VocabRows(full, rank);
        var layers = new LayerWeights[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            string p = $"layers.{i}.";
            using var scope = NewDisposeScope();
            layers[i] = new LayerWeights(
                Move(t[p + "attention_norm.weight"]),
                Move(Qkv(cat([t[p + "attention.wq.weight"], t[p + "attention.wk.weight"], t[p + "attention.wv.weight"]], 0))),
                Move(Columns(t[p + "attention.wo.weight"])),
                Move(t[p + "ffn_norm.weight"]),
                Move(GateUp(cat([t[p + "feed_forward.w1.weight"], t[p + "feed_forward.w3.weight"]], 0))),
                Move(Columns(t[p + "feed_forward.w2.weight"])));
        }
        using (NewDisposeScope())
        {
            Tensor embedding = Move(Vocab(t["tok_embeddings.weight"]));
            // Tied: the head is the embedding tensor itself, held once, as the checkpoint holds it.
            Tensor output = config.TiedEmbeddings ? embedding : Move(Vocab(t["output.weight"]));
            return new Llama3Weights(embedding, layers, Move(t["norm.weight"]), output);
        }
    }

    /// <summary>Bytes of every weight tensor (what the weights take on their device).</summary>
    public long Bytes
    {
        get
        {
            static long Of(Tensor t) => t.numel() * t.element_size();
            long bytes = Of(Embedding) + Of(Norm) + Of(Output);
            foreach (LayerWeights l in Layers)
                bytes += Of(l.AttentionNorm) + Of(l.Wqkv) + Of(l.Wo) + Of(l.FfnNorm) + Of(l.W13) + Of(l.W2);
            return bytes;
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
