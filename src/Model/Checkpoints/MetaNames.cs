namespace PagedSim.Model.Checkpoints;

/// <summary>
/// Tensor names and shapes in Meta's layout (the model's own naming), and how Meta's model-parallel shards split each
/// tensor: column-parallel weights (wq, wk, wv, w1, w3, output) along dim 0, row-parallel ones (wo, w2) and the
/// parallel embedding along dim 1, norms replicated.
/// </summary>
internal static class MetaNames
{
    /// <summary>Every tensor a Llama 3 model needs, with its full (unsharded) shape.</summary>
    public static IEnumerable<(string Name, long[] Shape)> Expected(Llama3Config c)
    {
        long dim = c.Dim, q = (long)c.Heads * c.HeadDim, kv = (long)c.KvHeads * c.HeadDim, hidden = c.HiddenDim;
        yield return ("tok_embeddings.weight", [c.VocabSize, dim]);
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"layers.{i}.";
            yield return (p + "attention_norm.weight", [dim]);
            yield return (p + "attention.wq.weight", [q, dim]);
            yield return (p + "attention.wk.weight", [kv, dim]);
            yield return (p + "attention.wv.weight", [kv, dim]);
            yield return (p + "attention.wo.weight", [dim, q]);
            yield return (p + "ffn_norm.weight", [dim]);
            yield return (p + "feed_forward.w1.weight", [hidden, dim]);
            yield return (p + "feed_forward.w2.weight", [dim, hidden]);
            yield return (p + "feed_forward.w3.weight", [hidden, dim]);
        }
        yield return ("norm.weight", [dim]);
        if (!c.TiedEmbeddings) yield return ("output.weight", [c.VocabSize, dim]);
    }

    /// <summary>The dimension Meta's shards split <paramref name="name"/> along, or -1 when every shard holds all of it.</summary>
    public static int SplitDim(string name)
    {
        if (name.EndsWith("_norm.weight", StringComparison.Ordinal) || name == "norm.weight") return -1;
        if (name.EndsWith("attention.wo.weight", StringComparison.Ordinal) || name.EndsWith("feed_forward.w2.weight", StringComparison.Ordinal)
            || name == "tok_embeddings.weight") return 1;
        return 0;
    }

    /// <summary>"[a, b]".</summary>
    public static string Format(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
