using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using Xunit;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// The reference attention against attention written out element by element here (each query head against its KV
/// head h / group, keys through the block table, the causal limit aligned to each sequence's end), whole and in query
/// tiles of one and two queries, over a paged cache with blocks shared out of order and a contiguous one.
/// </summary>
public sealed class ReferenceAttentionTests
{
    private const int Batch = 3, Heads = 6, KvHeads = 2, HeadDim = 8, BlockSize = 4;
    private static readonly int[] s_lengths = [7, 11, 5];

    [Theory]
    [InlineData(5, true, 1L << 30)]   // a prefill pass: every query in one tile
    [InlineData(5, true, 1)]          // one query a tile
    [InlineData(5, true, 2 * Batch * Heads * 11 * 4)] // two queries a tile, the last tile shorter
    [InlineData(1, false, 1L << 30)]  // a decode step
    public void MatchesAttentionWrittenOut(int queryLength, bool causal, long tileBytes)
    {
        using var scope = NewDisposeScope();
        var random = new Generator(11);
        int blocks = 12, width = 3;
        Tensor q = randn([Batch, queryLength, Heads, HeadDim], generator: random);
        Tensor keys = randn([blocks, BlockSize, KvHeads, HeadDim], generator: random);
        Tensor values = randn([blocks, BlockSize, KvHeads, HeadDim], generator: random);
        int[,] table = { { 5, 2, -1 }, { 0, 9, 3 }, { 7, 1, -1 } };
        Tensor blockTable = tensor(table.Cast<int>().ToArray(), [Batch, width], ScalarType.Int32);
        double scale = 1 / Math.Sqrt(HeadDim);
        var inputs = new AttentionInputs(q, keys, values, KvCacheKind.Paged, blockTable, tensor(s_lengths, ScalarType.Int32),
            s_lengths.Max(), causal, scale);

        Tensor actual = zeros_like(q);
        new ReferenceAttention(tileBytes).Forward(inputs, actual);

        float[] expected = WrittenOut(q, keys, values, (b, j) => table[b, j / BlockSize] * BlockSize + j % BlockSize, causal, scale);
        float[] got = actual.contiguous().data<float>().ToArray();
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - expected[i]) < 1e-5, $"element {i}: {got[i]} against {expected[i]}");
    }

    [Fact]
    public void ContiguousCacheRowsMatchWrittenOut()
    {
        using var scope = NewDisposeScope();
        var random = new Generator(12);
        int rows = 4, maxLen = 12, queryLength = 3;
        Tensor q = randn([Batch, queryLength, Heads, HeadDim], generator: random);
        Tensor keys = randn([rows, maxLen, KvHeads, HeadDim], generator: random);
        Tensor values = randn([rows, maxLen, KvHeads, HeadDim], generator: random);
        int[] rowOf = [2, 0, 3];
        var inputs = new AttentionInputs(q, keys, values, KvCacheKind.Contiguous, tensor(rowOf, [Batch, 1], ScalarType.Int32),
            tensor(s_lengths, ScalarType.Int32), s_lengths.Max(), Causal: true, 0.3);

        Tensor actual = zeros_like(q);
        new ReferenceAttention(1).Forward(inputs, actual);

        float[] expected = WrittenOut(q, keys.view(rows * maxLen, 1, KvHeads, HeadDim), values.view(rows * maxLen, 1, KvHeads, HeadDim),
            (b, j) => rowOf[b] * maxLen + j, causal: true, 0.3);
        float[] got = actual.contiguous().data<float>().ToArray();
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - expected[i]) < 1e-5, $"element {i}: {got[i]} against {expected[i]}");
    }

    /// <summary>Attention in loops over float arrays; <paramref name="slot"/> maps (row, key position) to a slot of
    /// the caches viewed as [slots, kvHeads, headDim].</summary>
    private static float[] WrittenOut(Tensor q, Tensor keys, Tensor values, Func<int, int, long> slot, bool causal, double scale)
    {
        int queryLength = (int)q.shape[1], group = Heads / KvHeads;
        float[] qs = q.contiguous().data<float>().ToArray();
        float[] ks = keys.contiguous().data<float>().ToArray(), vs = values.contiguous().data<float>().ToArray();
        var output = new float[qs.Length];
        for (int b = 0; b < Batch; b++)
            for (int i = 0; i < queryLength; i++)
                for (int h = 0; h < Heads; h++)
                {
                    int kvHead = h / group, seen = causal ? s_lengths[b] - queryLength + 1 + i : s_lengths[b];
                    long qAt = (((long)b * queryLength + i) * Heads + h) * HeadDim;
                    var score = new double[seen];
                    for (int j = 0; j < seen; j++)
                    {
                        long kAt = (slot(b, j) * KvHeads + kvHead) * HeadDim;
                        double dot = 0;
                        for (int d = 0; d < HeadDim; d++) dot += qs[qAt + d] * ks[kAt + d];
                        score[j] = dot * scale;
                    }
                    double max = score.Max(), sum = score.Sum(s => Math.Exp(s - max));
                    for (int d = 0; d < HeadDim; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < seen; j++) acc += Math.Exp(score[j] - max) / sum * vs[(slot(b, j) * KvHeads + kvHead) * HeadDim + d];
                        output[qAt + d] = (float)acc;
                    }
                }
        return output;
    }
}
