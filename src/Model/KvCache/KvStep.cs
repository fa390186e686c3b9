using static TorchSharp.torch;

namespace PagedSim.Model.KvCache;

/// <summary>
/// What one forward pass needs from the cache for a batch of sequences that each append <see cref="QueryLength"/>
/// tokens: where the new K/V go, and what attention reads. Tensors are on the model's device; made by
/// <see cref="IKvCache.Prepare"/> inside the caller's dispose scope.
/// </summary>
/// <param name="BatchSize">Sequences in the batch (rows).</param>
/// <param name="QueryLength">New tokens per sequence in this pass.</param>
/// <param name="Positions">int64 [batch, queryLength]: position of each new token in its sequence (for RoPE).</param>
/// <param name="Slots">int64 [batch·queryLength]: flat slot of each new token in the cache viewed as [slots, kvHeads, headDim].</param>
/// <param name="BlockTable">int32 [batch, maxBlocks]: physical blocks of each sequence (-1 past its last), or for a contiguous cache [batch, 1] cache rows.</param>
/// <param name="SequenceLengths">int32 [batch]: tokens in each sequence's cache including this pass's new ones.</param>
/// <param name="MaxSequenceLength">The largest entry of <paramref name="SequenceLengths"/>, known on the host.</param>
public sealed record KvStep(
    int BatchSize, int QueryLength, Tensor Positions, Tensor Slots, Tensor BlockTable, Tensor SequenceLengths, int MaxSequenceLength);
