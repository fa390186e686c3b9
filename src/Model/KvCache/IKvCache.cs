using static TorchSharp.torch;

namespace PagedSim.Model.KvCache;

/// <summary>
/// A KV cache: per-layer K and V tensors plus the bookkeeping of which sequence owns which slots. Sequences are
/// admitted with their prompt length, grow token by token, and are removed when they finish (their room returns at once).
/// </summary>
public interface IKvCache : IDisposable
{
    /// <summary>Layout of <see cref="Keys"/> and <see cref="Values"/>.</summary>
    KvCacheKind Kind { get; }

    /// <summary>Token slots per block (paged), or the maximum sequence length (contiguous: one "block" per row).</summary>
    int BlockSize { get; }

    /// <summary>Layer <paramref name="layer"/>'s keys: [numBlocks, blockSize, kvHeads, headDim] or [rows, maxLen, kvHeads, headDim].</summary>
    Tensor Keys(int layer);

    /// <summary>Layer <paramref name="layer"/>'s values, shaped like <see cref="Keys"/>.</summary>
    Tensor Values(int layer);

    /// <summary>Running sequences in the order a decode batch should use (paged: the dense block-table rows).</summary>
    ReadOnlySpan<int> Running { get; }

    /// <summary>Whether a sequence of <paramref name="tokens"/> tokens can be admitted now.</summary>
    bool CanAdd(int tokens);

    /// <summary>Admits a sequence holding <paramref name="tokens"/> tokens (its prompt) and returns its id.</summary>
    /// <exception cref="InvalidOperationException">No room (paged: <see cref="PagedSim.Allocator.OutOfBlocksException"/>).</exception>
    int Add(int tokens);

    /// <summary>Grows a sequence by <paramref name="tokens"/> tokens (their K/V are written by the next forward pass).</summary>
    void Append(int sequence, int tokens = 1);

    /// <summary>Removes a finished sequence; its room is free for others at once.</summary>
    void Remove(int sequence);

    /// <summary>Tokens a running sequence holds.</summary>
    int Length(int sequence);

    /// <summary>
    /// The step tensors for a forward pass over <paramref name="sequences"/> (batch rows, in this order) whose last
    /// <paramref name="newTokens"/> tokens are written in this pass.
    /// </summary>
    KvStep Prepare(ReadOnlySpan<int> sequences, int newTokens, Device device);
}
