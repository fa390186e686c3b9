using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// Random attention inputs on the GPU: a paged cache with a shuffled block table (-1 past each sequence's last
/// block, as <see cref="PagedKvCache"/> makes it) and the same keys and values laid out contiguously, one request per
/// cache row in reversed row order (as <see cref="NaiveKvCache"/> addresses rows).
/// </summary>
internal sealed class FlashTestBatch : IDisposable
{
    public const int HeadDim = 128;
    private readonly DisposeScope _scope;

    public FlashTestBatch(int[] lengths, int queryLength, int heads, int kvHeads, int blockSize, ScalarType dtype, int seed, int headDim = HeadDim)
    {
        _scope = NewDisposeScope();
        Lengths = lengths;
        int batch = lengths.Length, max = lengths.Max();
        int width = (max + blockSize - 1) / blockSize;
        int[] need = lengths.Select(l => (l + blockSize - 1) / blockSize).ToArray();
        int numBlocks = need.Sum() + 2;
        var random = new Random(seed);
        int[] ids = Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray();
        var table = new int[batch * width];
        Array.Fill(table, -1);
        for (int b = 0, next = 0; b < batch; b++)
            for (int i = 0; i < need[b]; i++) table[b * width + i] = ids[next++];

        torch.random.manual_seed(seed);
        torch.cuda.manual_seed(seed);
        Device cuda = torch.CUDA;
        Query = randn([batch, queryLength, heads, headDim], device: cuda).to(dtype);
        KeyCache = randn([numBlocks, blockSize, kvHeads, headDim], device: cuda).to(dtype);
        ValueCache = randn([numBlocks, blockSize, kvHeads, headDim], device: cuda).to(dtype);
        BlockTable = tensor(table, [batch, width]).to(cuda);
        SequenceLengths = tensor(lengths).to(cuda);

        // Contiguous copy: request b in row batch - b of [batch + 1, max, kvHeads, headDim] (row 0 unused).
        ContiguousKeys = zeros([batch + 1, max, kvHeads, headDim], dtype, cuda);
        ContiguousValues = zeros([batch + 1, max, kvHeads, headDim], dtype, cuda);
        var rows = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            rows[b] = batch - b;
            Tensor blockIds = tensor(table.AsSpan(b * width, need[b]).ToArray().Select(x => (long)x).ToArray()).to(cuda);
            foreach ((Tensor paged, Tensor contiguous) in new[] { (KeyCache, ContiguousKeys), (ValueCache, ContiguousValues) })
            {
                Tensor keys = paged.index_select(0, blockIds).reshape(need[b] * blockSize, kvHeads, headDim).narrow(0, 0, lengths[b]);
                contiguous[rows[b]].narrow(0, 0, lengths[b]).copy_(keys);
            }
        }
        CacheRows = tensor(rows, [batch, 1]).to(cuda);
    }

    public int[] Lengths { get; }
    public Tensor Query { get; }
    public Tensor KeyCache { get; }
    public Tensor ValueCache { get; }
    public Tensor BlockTable { get; }
    public Tensor SequenceLengths { get; }
    public Tensor ContiguousKeys { get; }
    public Tensor ContiguousValues { get; }
    public Tensor CacheRows { get; }

    public AttentionInputs Paged(bool causal) =>
        new(Query, KeyCache, ValueCache, KvCacheKind.Paged, BlockTable, SequenceLengths, Lengths.Max(), causal, 1 / Math.Sqrt(Query.shape[3]));

    public AttentionInputs Contiguous(bool causal) =>
        new(Query, ContiguousKeys, ContiguousValues, KvCacheKind.Contiguous, CacheRows, SequenceLengths, Lengths.Max(), causal, 1 / Math.Sqrt(Query.shape[3]));

    /// <summary>The reference backend's answer in float32 (inputs upcast), as [batch, queryLength, heads, headDim].</summary>
    public Tensor Expected(bool causal)
    {
        AttentionInputs a = Paged(causal);
        a = a with { Query = a.Query.to(ScalarType.Float32), KeyCache = a.KeyCache.to(ScalarType.Float32), ValueCache = a.ValueCache.to(ScalarType.Float32) };
        Tensor expected = zeros(Query.shape, ScalarType.Float32, Query.device);
        new ReferenceAttention().Forward(a, expected);
        return expected;
    }

    public static double MaxAbsDiff(Tensor actual, Tensor expected) =>
        (actual.to(ScalarType.Float32) - expected.to(ScalarType.Float32)).abs().max().item<float>();

    public void Dispose() => _scope.Dispose();
}
