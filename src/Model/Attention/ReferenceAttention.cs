using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention;

/// <summary>
/// Attention as plain float32 arithmetic, on any device: gathers each sequence's keys and values through its block
/// table into a dense copy, multiplies each query head with its KV head's keys (grouped-query attention without
/// repeating the KV heads), masks keys past each sequence's length (and, when causal, keys after each query, aligned
/// to the end of the sequence), and takes the softmax-weighted sum of the values. Queries go in tiles whose score
/// matrix stays within <see cref="ScoreTileBytes"/>, so a long prompt never materialises heads × tokens² at once.
/// </summary>
/// <remarks>
/// Written out rather than through scaled_dot_product_attention: on Hopper, libtorch 2.11 dispatches a masked bf16
/// call to cuDNN's fused attention, which fails for these shapes; the reference should be arithmetic anyone can read.
/// The device memory a call takes is <c>ReferenceAttentionMemory</c> (src/Allocator/Simulation), which the runner's
/// peak prediction adds when this backend runs.
/// </remarks>
public sealed class ReferenceAttention : IAttentionBackend
{
    /// <summary>Most bytes the float32 scores of one query tile take by default (the softmax holds as many again).</summary>
    public const long DefaultScoreTileBytes = 256L << 20;

    /// <summary>A backend whose query tiles keep their scores within <paramref name="scoreTileBytes"/>.</summary>
    public ReferenceAttention(long scoreTileBytes = DefaultScoreTileBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scoreTileBytes, 1);
        ScoreTileBytes = scoreTileBytes;
    }

    /// <summary>Most bytes the float32 scores of one query tile take.</summary>
    public long ScoreTileBytes { get; }

    /// <inheritdoc/>
    public string Name => "reference";

    /// <summary>Queries per tile for <paramref name="batch"/> rows of <paramref name="heads"/> heads over
    /// <paramref name="keys"/> keys: as many as keep the scores within <see cref="ScoreTileBytes"/>, at least one.</summary>
    public long TileQueries(long batch, long heads, long keys, long queries) =>
        Math.Clamp(ScoreTileBytes / Math.Max(1, batch * heads * keys * sizeof(float)), 1, Math.Max(1, queries));

    /// <inheritdoc/>
    public void Forward(AttentionInputs a, Tensor output)
    {
        using var scope = NewDisposeScope();
        Tensor q = a.Query;
        long batch = q.shape[0], qLen = q.shape[1], heads = q.shape[2], headDim = q.shape[3];
        long kvHeads = a.KeyCache.shape[2], group = heads / kvHeads, length = a.MaxSequenceLength;
        Tensor k = Gather(a, a.KeyCache, length), v = Gather(a, a.ValueCache, length); // float32 [batch, kvHeads, length, headDim]
        Tensor kt = k.transpose(-2, -1);

        // Every Scalar held for the calls (see Scalars).
        using Scalar end = length.ToScalar(), scale = a.SoftmaxScale.ToScalar(), minusInfinity = double.NegativeInfinity.ToScalar();
        Tensor seqLens = a.SequenceLengths.to(ScalarType.Int64).view(batch, 1, 1);
        Tensor keyIndex = arange(Scalars.Zero, end, Scalars.One, ScalarType.Int64, q.device).view(1, 1, length);

        long tile = TileQueries(batch, heads, length, qLen);
        for (long start = 0; start < qLen; start += tile)
        {
            using var tileScope = NewDisposeScope();
            long n = Math.Min(tile, qLen - start);
            // Query head h reads KV head h / group: [batch, n, heads, d] → [batch, kvHeads, group · n, d].
            Tensor qt = q.narrow(1, start, n).to(ScalarType.Float32).view(batch, n, kvHeads, group, headDim)
                .permute(0, 2, 3, 1, 4).reshape(batch, kvHeads, group * n, headDim);
            Tensor scores = matmul(qt, kt).mul_(scale);                  // [batch, kvHeads, group · n, length]

            // Key j is allowed for query start + i when j < seqLen (and, causal, j < seqLen − qLen + 1 + start + i).
            Tensor limit = seqLens;
            if (a.Causal)
            {
                using Scalar first = (start + 1 - qLen).ToScalar(), last = (start + n + 1 - qLen).ToScalar();
                limit = seqLens.add(arange(first, last, Scalars.One, ScalarType.Int64, q.device).view(1, n, 1), Scalars.One);
            }
            Tensor blocked = keyIndex.ge(limit).view(batch, 1, 1, -1, length); // [batch, 1, 1, n or 1, length]
            scores.view(batch, kvHeads, group, n, length).masked_fill_(blocked, minusInfinity);

            Tensor y = matmul(scores.softmax(-1), v);                     // [batch, kvHeads, group · n, d]
            output.narrow(1, start, n).view(batch, n, kvHeads, group, headDim)
                .copy_(y.view(batch, kvHeads, group, n, headDim).permute(0, 3, 1, 2, 4));
        }
    }

    /// <summary>One cache's keys or values for every batch row, float32 [batch, kvHeads, length, headDim].</summary>
    private static Tensor Gather(AttentionInputs a, Tensor cache, long length)
    {
        using var scope = NewDisposeScope(); // the copy in the cache's dtype goes as soon as the float32 one exists
        long batch = a.Query.shape[0], kvHeads = cache.shape[2], headDim = cache.shape[3];
        Tensor rows;
        if (a.Kind == KvCacheKind.Contiguous)
        {
            rows = cache.narrow(1, 0, length).index_select(0, a.BlockTable.select(1, 0).to(ScalarType.Int64));
        }
        else
        {
            long blockSize = cache.shape[1], width = (length + blockSize - 1) / blockSize;
            // -1 (no block) reads block 0: those keys are past the sequence's length and masked out.
            Tensor ids = a.BlockTable.narrow(1, 0, width).to(ScalarType.Int64).clamp_min(Scalars.Zero).reshape(-1);
            rows = cache.index_select(0, ids).view(batch, width * blockSize, kvHeads, headDim).narrow(1, 0, length);
        }
        return rows.permute(0, 2, 1, 3).contiguous().to(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}
