using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention;

/// <summary>
/// Attention in plain TorchSharp, on any device: gathers each sequence's keys and values through its block table
/// into a dense [batch, maxLen, kvHeads, headDim] copy, repeats KV heads for grouped-query attention, masks keys past
/// each sequence's length (and, when causal, keys after each query, aligned to the end of the sequence), then calls
/// scaled_dot_product_attention. Simple and exact; the gather costs a copy of the attended cache per layer.
/// </summary>
public sealed class ReferenceAttention : IAttentionBackend
{
    /// <inheritdoc/>
    public string Name => "reference";

    /// <inheritdoc/>
    public void Forward(AttentionInputs a, Tensor output)
    {
        using var scope = NewDisposeScope();
        Tensor q = a.Query;
        long batch = q.shape[0], qLen = q.shape[1], heads = q.shape[2], headDim = q.shape[3];
        long kvHeads = a.KeyCache.shape[2], length = a.MaxSequenceLength;
        (Tensor k, Tensor v) = Gather(a, length);                     // [batch, length, kvHeads, headDim]

        // allowed[b, i, j]: key j is within row b's sequence and (causal) not after query i.
        // Every Scalar held for the call (see Scalars): query i of qLen may see keys j < seqLen - qLen + 1 + i.
        using Scalar end = length.ToScalar(), firstOffset = (1 - qLen).ToScalar(), scale = a.SoftmaxScale.ToScalar(),
            minusInfinity = double.NegativeInfinity.ToScalar();
        Tensor seqLens = a.SequenceLengths.to(ScalarType.Int64).view(batch, 1, 1);
        Tensor j = arange(Scalars.Zero, end, Scalars.One, ScalarType.Int64, q.device).view(1, 1, length);
        Tensor limit = a.Causal
            ? seqLens.add(arange(firstOffset, Scalars.One, Scalars.One, ScalarType.Int64, q.device).view(1, qLen, 1), Scalars.One)
            : seqLens;
        Tensor mask = j.lt(limit).unsqueeze(1);                        // [batch, 1, qLen, length]

        Tensor qh = q.transpose(1, 2);                                 // [batch, heads, qLen, headDim]
        Tensor kh = k.transpose(1, 2), vh = v.transpose(1, 2);         // [batch, kvHeads, length, headDim]
        if (heads != kvHeads)
        {
            kh = kh.repeat_interleave(heads / kvHeads, dim: 1);
            vh = vh.repeat_interleave(heads / kvHeads, dim: 1);
        }
        // Written out rather than through scaled_dot_product_attention: on Hopper, libtorch 2.11 dispatches a masked
        // bf16 call to cuDNN's fused attention, which fails for these shapes; the reference should be plain arithmetic.
        Tensor scores = matmul(qh.to(ScalarType.Float32), kh.to(ScalarType.Float32).transpose(-2, -1)).mul_(scale);
        scores.masked_fill_(mask.logical_not(), minusInfinity);
        Tensor y = matmul(scores.softmax(-1), vh.to(ScalarType.Float32));
        output.copy_(y.transpose(1, 2));
    }

    private static (Tensor K, Tensor V) Gather(AttentionInputs a, long length)
    {
        long batch = a.Query.shape[0];
        if (a.Kind == KvCacheKind.Contiguous)
        {
            Tensor rows = a.BlockTable.select(1, 0).to(ScalarType.Int64);
            return (a.KeyCache.narrow(1, 0, length).index_select(0, rows), a.ValueCache.narrow(1, 0, length).index_select(0, rows));
        }
        long blockSize = a.KeyCache.shape[1], kvHeads = a.KeyCache.shape[2], headDim = a.KeyCache.shape[3];
        long width = (length + blockSize - 1) / blockSize;
        // -1 (no block) reads block 0: those keys are past the sequence's length and masked out.
        Tensor ids = a.BlockTable.narrow(1, 0, width).to(ScalarType.Int64).clamp_min(Scalars.Zero).reshape(-1);
        Tensor k = a.KeyCache.index_select(0, ids).view(batch, width * blockSize, kvHeads, headDim).narrow(1, 0, length).contiguous();
        Tensor v = a.ValueCache.index_select(0, ids).view(batch, width * blockSize, kvHeads, headDim).narrow(1, 0, length).contiguous();
        return (k, v);
    }
}
