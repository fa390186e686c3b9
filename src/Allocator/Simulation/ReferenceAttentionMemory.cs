namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Device memory the runner's reference attention (src/Model/Attention/ReferenceAttention.cs) holds at the peak of one
/// call: the arithmetic of the tensors that code allocates, so the runner's peak prediction
/// (<see cref="RuntimeOverhead.RunBytes"/>) covers the runs where prompts (block sizes that are not multiples of 256) or
/// every pass (head dims the native kernels are not built for, e.g. Llama 3.2 1B's 64) take that backend.
/// </summary>
/// <remarks>
/// A call gathers keys then values: each a copy in the cache's dtype of the sequence's blocks (paged: whole blocks),
/// one dense copy of those rows, then float32 [batch, kvHeads, keys, headDim]; the two float32 copies stay for the
/// call. Queries then go in tiles whose float32 scores take at most <see cref="ScoreTileBytes"/>; a tile holds its
/// queries in float32 twice (converted, regrouped by KV head), the scores and their softmax, the allowed-keys mask
/// (one byte a score of a head) and its output in float32.
/// </remarks>
public static class ReferenceAttentionMemory
{
    /// <summary>The score budget of a query tile (<c>ReferenceAttention.DefaultScoreTileBytes</c>; a test holds them equal).</summary>
    public const long ScoreTileBytes = 256L << 20;

    /// <summary>Bytes held at the peak of one call: <paramref name="batch"/> rows of <paramref name="queries"/> new
    /// tokens over <paramref name="keys"/> keys (the batch's longest sequence), cache elements of
    /// <paramref name="elementBytes"/>, blocks of <paramref name="blockSize"/> tokens (null: a contiguous cache).</summary>
    public static long CallBytes(ModelSpec model, int elementBytes, long batch, long queries, long keys, int? blockSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        long heads = model.Heads, kvHeads = model.KvHeads, headDim = model.HeadDim;
        long rowBytes = batch * kvHeads * headDim;                               // one key position, every row
        long gatheredKeys = blockSize is int bs ? (keys + bs - 1) / bs * bs : keys;
        long float32Cache = rowBytes * keys * 4;
        long gathering = float32Cache + rowBytes * gatheredKeys * elementBytes + rowBytes * keys * elementBytes + float32Cache;

        long tile = Math.Clamp(ScoreTileBytes / Math.Max(1, batch * heads * keys * 4), 1, Math.Max(1, queries));
        long queryBytes = batch * tile * heads * headDim * 4;
        long scoreBytes = batch * heads * tile * keys * 4;
        long tiling = 2 * float32Cache + 2 * queryBytes + 2 * scoreBytes + batch * tile * keys + queryBytes;
        return Math.Max(gathering, tiling);
    }
}
