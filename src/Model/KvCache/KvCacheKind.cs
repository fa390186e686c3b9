namespace PagedSim.Model.KvCache;

/// <summary>How a cache lays out each layer's K and V tensors.</summary>
public enum KvCacheKind
{
    /// <summary>
    /// One row per sequence, [rows, maxSequenceLength, kvHeads, headDim] (like llama3-naive.py). In a block table a
    /// contiguous cache has one column: the cache row of each batch row (flash-attn's <c>cache_batch_idx</c>).
    /// </summary>
    Contiguous,

    /// <summary>Physical block pools, [numBlocks, blockSize, kvHeads, headDim], addressed through block tables.</summary>
    Paged,
}
