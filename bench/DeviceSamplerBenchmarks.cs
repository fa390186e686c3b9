using BenchmarkDotNet.Attributes;
using PagedSim.Model.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Bench;

/// <summary>
/// One decode step's top-p draws where the logits are (<see cref="DeviceSampler"/>): 32 rows of Llama 3's 128,256
/// bf16 logits, on CUDA when there is a GPU (else CPU tensors), ids read back to the host. Compare with
/// <see cref="SamplingBenchmarks"/> (one row on the host, after the logits' copy).
/// </summary>
public class DeviceSamplerBenchmarks
{
    private const int Rows = 32, Vocab = 128_256;
    private readonly SamplingOptions _options = new(0.8, 0.95, 0);
    private readonly Random _random = new(7);
    private readonly double[] _uniforms = new double[Rows];
    private Tensor _logits = null!;

    [GlobalSetup]
    public void Setup()
    {
        Device device = torch.cuda.is_available() ? CUDA : CPU;
        manual_seed(1);
        _logits = (randn([Rows, Vocab]) * 1.28).to(ScalarType.BFloat16).to(device);
    }

    [GlobalCleanup]
    public void Cleanup() => _logits.Dispose();

    [Benchmark]
    public long DrawRows()
    {
        for (int i = 0; i < Rows; i++) _uniforms[i] = _random.NextDouble();
        using Tensor ids = DeviceSampler.Sample(_logits, _options, _uniforms);
        using Tensor host = ids.cpu();
        return host.data<long>()[0];
    }
}
