using PagedSim.Model.Generation;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests.Model;

/// <summary>On the GPU the tensor sampler chooses what it chooses on the CPU for the same logits and uniforms.</summary>
public class DeviceSamplerOnCudaTests
{
    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(0.8, 0.95)]
    [InlineData(0.6, 0.5)]
    public void Cuda_draws_equal_cpu_draws(double temperature, double topP)
    {
        CudaDevice.SkipUnlessAvailable();
        const int vocab = 128_256, rows = 32;
        var fill = new Random(9);
        float[] values = [.. Enumerable.Range(0, rows * vocab).Select(_ => (float)(fill.NextDouble() * 6))];
        using Tensor cpu = tensor(values, [rows, vocab]).to(ScalarType.BFloat16);
        using Tensor cuda = cpu.to(CUDA);
        var stream = new Random(4);
        double[] uniforms = [.. Enumerable.Range(0, rows).Select(_ => stream.NextDouble())];
        var options = new SamplingOptions(temperature, topP, 0);

        using Tensor onCpu = DeviceSampler.Sample(cpu, options, uniforms);
        using Tensor onCuda = DeviceSampler.Sample(cuda, options, uniforms);

        Assert.Equal(CUDA.type, onCuda.device.type);
        Assert.Equal(onCpu.data<long>().ToArray(), onCuda.cpu().data<long>().ToArray());
    }
}
