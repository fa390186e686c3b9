using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention;

/// <summary>
/// One layer's attention call. All tensors live on one device; the new tokens' K/V are already in the cache.
/// </summary>
/// <param name="Query">[batch, queryLength, heads, headDim], RoPE applied, contiguous, the cache's dtype.</param>
/// <param name="KeyCache">The layer's keys: paged [numBlocks, blockSize, kvHeads, headDim]; contiguous [rows, maxLen, kvHeads, headDim].</param>
/// <param name="ValueCache">The layer's values, shaped like <paramref name="KeyCache"/>.</param>
/// <param name="Kind">Which of the two layouts the caches have.</param>
/// <param name="BlockTable">int32 [batch, maxBlocks], contiguous (row-major): paged, the physical block of each
/// logical block, -1 past a sequence's last block; contiguous, [batch, 1] with the cache row of each batch row.</param>
/// <param name="SequenceLengths">int32 [batch]: keys to attend per row, including the <c>queryLength</c> new ones.</param>
/// <param name="MaxSequenceLength">Largest of <paramref name="SequenceLengths"/>, on the host (no device sync needed).</param>
/// <param name="Causal">Query i of a row sees keys 0 .. seqLen − queryLength + i (the mask is aligned to the end of
/// the sequence); without it, every query sees all seqLen keys.</param>
/// <param name="SoftmaxScale">Multiplies q·k before the softmax; 1/√headDim for Llama.</param>
public sealed record AttentionInputs(
    Tensor Query, Tensor KeyCache, Tensor ValueCache, KvCacheKind Kind, Tensor BlockTable, Tensor SequenceLengths,
    int MaxSequenceLength, bool Causal, double SoftmaxScale);
