using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Paged;
using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Bench;

/// <summary>
/// One layer's decode attention through the library's own paged kernel from C# (32 query / 8 KV heads, head dim 128,
/// bf16, every sequence at the full context, shuffled blocks), at block 16 and 256, both kernel variants; 20 calls
/// queued per synchronize. "KV TB/s" is the K and V bytes read over the mean time.
/// Target (issue 17): >= 3.6 TB/s at 49 x 512 and 8 x 8192, blocks 16 and 256, on an H200.
/// Needs CUDA and libpagedsim_flash.so (PAGEDSIM_FLASH_LIB): run with --filter *PagedDecode*.
/// </summary>
[Config(typeof(PagedDecodeConfig))]
[WarmupCount(3)]
[IterationCount(10)]
public class PagedDecodeBenchmarks
{
    private const int Heads = 32, KvHeads = 8, HeadDim = 128, Calls = 20;
    private PagedDecodeAttention _backend = null!;
    private AttentionInputs _inputs = null!;
    private Tensor _output = null!;
    private DisposeScope? _scope;

    /// <summary>Batch x context.</summary>
    [ParamsSource(nameof(Shapes))]
    public FlashDecodeShape Shape { get; set; } = new(49, 512);

    /// <summary>Tokens per block.</summary>
    [Params(16, 256)]
    public int BlockSize { get; set; } = 16;

    /// <summary>Which kernel.</summary>
    [Params(PagedDecodeKernel.TensorCores, PagedDecodeKernel.CudaCores)]
    public PagedDecodeKernel Kernel { get; set; }

    /// <summary>The shapes of issue 17.</summary>
    public static IEnumerable<FlashDecodeShape> Shapes() => [new(49, 512), new(8, 8192), new(64, 2048)];

    [GlobalSetup]
    public void Setup()
    {
        if (!torch.cuda.is_available()) throw new InvalidOperationException("PagedDecodeBenchmarks need a CUDA device.");
        _scope = NewDisposeScope();
        int batch = Shape.Batch, blocksPerSequence = (Shape.Context + BlockSize - 1) / BlockSize, numBlocks = batch * blocksPerSequence;
        var random = new Random(42);
        int[] table = Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray();
        Device cuda = torch.CUDA;
        Tensor keys = randn([numBlocks, BlockSize, KvHeads, HeadDim], device: cuda).to(ScalarType.BFloat16);
        Tensor values = randn([numBlocks, BlockSize, KvHeads, HeadDim], device: cuda).to(ScalarType.BFloat16);
        Tensor query = randn([batch, 1, Heads, HeadDim], device: cuda).to(ScalarType.BFloat16);
        _inputs = new AttentionInputs(query, keys, values, KvCacheKind.Paged, tensor(table, [batch, blocksPerSequence]).to(cuda),
            full([batch], Shape.Context, ScalarType.Int32, cuda), Shape.Context, Causal: true, 1 / Math.Sqrt(HeadDim));
        _output = zeros_like(query);
        _backend = new PagedDecodeAttention(new ReferenceAttention()) { Kernel = Kernel };
        Decode();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _backend.Dispose();
        _scope?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Calls)]
    public void Decode()
    {
        for (int i = 0; i < Calls; i++) _backend.Forward(_inputs, _output);
        torch.cuda.synchronize();
    }

    /// <summary>Adds the bandwidth column.</summary>
    private sealed class PagedDecodeConfig : ManualConfig
    {
        public PagedDecodeConfig()
        {
            AddColumn(new FlashKvBandwidthColumn(bytesPerToken: 2L * KvHeads * HeadDim * sizeof(short)));
        }
    }
}
