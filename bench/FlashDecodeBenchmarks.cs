using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Bench;

/// <summary>
/// One layer's decode attention on the GPU over a paged cache (32 query / 8 KV heads, head dim 128, bf16, blocks of
/// 256, every sequence at the full context): the flash backend next to the reference backend. Each operation is one
/// Forward; 20 are queued, then the device is synchronized, so the figure is the kernel's throughput, not launch
/// latency. The "KV TB/s" column is the K and V bytes the step must read over the mean time.
/// Target (issue 6): flash at batch 64 x 2048 reads KV at >= 2.7 TB/s on an H100 (peak HBM3 3.35 TB/s).
/// Needs CUDA and libpagedsim_flash.so (PAGEDSIM_FLASH_LIB): run with --filter *FlashDecode*.
/// </summary>
[Config(typeof(FlashDecodeConfig))]
[WarmupCount(3)]
[IterationCount(10)] // each iteration is long enough; mutates whatever job the command line gives
public class FlashDecodeBenchmarks
{
    private const int Heads = 32, KvHeads = 8, HeadDim = 128, BlockSize = 256, Calls = 20;
    private IAttentionBackend _backend = null!;
    private AttentionInputs _inputs = null!;
    private Tensor _output = null!;
    private DisposeScope? _scope;

    /// <summary>Batch x context.</summary>
    [ParamsSource(nameof(Shapes))]
    public FlashDecodeShape Shape { get; set; } = new(64, 2048);

    /// <summary>"flash" or "reference".</summary>
    [Params("flash", "reference")]
    public string Backend { get; set; } = "flash";

    /// <summary>The shapes of issue 6.</summary>
    public static IEnumerable<FlashDecodeShape> Shapes() => [new(1, 2048), new(64, 2048), new(256, 2048), new(8, 8192)];

    [GlobalSetup]
    public void Setup()
    {
        if (!torch.cuda.is_available()) throw new InvalidOperationException("FlashDecodeBenchmarks need a CUDA device.");
        _scope = NewDisposeScope();
        int batch = Shape.Batch, blocksPerSequence = Shape.Context / BlockSize, numBlocks = batch * blocksPerSequence;
        var random = new Random(42);
        int[] table = Enumerable.Range(0, numBlocks).OrderBy(_ => random.Next()).ToArray();
        Device cuda = torch.CUDA;
        Tensor keys = randn([numBlocks, BlockSize, KvHeads, HeadDim], device: cuda).to(ScalarType.BFloat16);
        Tensor values = randn([numBlocks, BlockSize, KvHeads, HeadDim], device: cuda).to(ScalarType.BFloat16);
        Tensor query = randn([batch, 1, Heads, HeadDim], device: cuda).to(ScalarType.BFloat16);
        _inputs = new AttentionInputs(query, keys, values, KvCacheKind.Paged, tensor(table, [batch, blocksPerSequence]).to(cuda),
            full([batch], Shape.Context, ScalarType.Int32, cuda), Shape.Context, Causal: false, 1 / Math.Sqrt(HeadDim));
        _output = zeros_like(query);
        _backend = Backend == "flash" ? new FlashAttentionBackend() : new ReferenceAttention();
        Decode();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        (_backend as IDisposable)?.Dispose();
        _scope?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Calls)]
    public void Decode()
    {
        for (int i = 0; i < Calls; i++) _backend.Forward(_inputs, _output);
        torch.cuda.synchronize();
    }

    /// <summary>Adds the bandwidth column.</summary>
    private sealed class FlashDecodeConfig : ManualConfig
    {
        public FlashDecodeConfig()
        {
            AddColumn(new FlashKvBandwidthColumn(bytesPerToken: 2L * KvHeads * HeadDim * sizeof(short)));
        }
    }
}
