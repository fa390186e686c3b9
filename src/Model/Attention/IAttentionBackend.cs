using static TorchSharp.torch;

namespace PagedSim.Model.Attention;

/// <summary>
/// Attention over a KV cache, one layer at a time. The contract (also what a native flash-attn backend receives as
/// raw device pointers):
/// <list type="bullet">
/// <item><c>q</c> [batch, qLen, heads, headDim], contiguous, same dtype as the cache (bf16 on GPU, f32 on CPU);
/// heads is a multiple of kvHeads (grouped-query: query head h reads KV head h / (heads / kvHeads)).</item>
/// <item>K and V caches, per layer: paged [numBlocks, blockSize, kvHeads, headDim], contiguous
/// [rows, maxLen, kvHeads, headDim]; the new tokens' K/V are already written in place.</item>
/// <item>block table int32 [batch, maxBlocks] row-major on the device (paged: physical block ids, -1 unused;
/// contiguous: one column, the cache row of each batch row, like flash-attn's cache_batch_idx).</item>
/// <item>cache sequence lengths int32 [batch] on the device: keys per row including the qLen new ones.</item>
/// <item>causal flag (mask aligned to the end of each sequence) and softmax scale.</item>
/// <item>output [batch, qLen, heads, headDim], contiguous, the query's dtype: written, never resized.</item>
/// </list>
/// Implementations must not change the caches, the block table or the lengths.
/// </summary>
public interface IAttentionBackend
{
    /// <summary>A short name for logs and the command line ("reference", "flash").</summary>
    string Name { get; }

    /// <summary>Computes attention for <paramref name="inputs"/> into <paramref name="output"/>.</summary>
    void Forward(AttentionInputs inputs, Tensor output);
}
