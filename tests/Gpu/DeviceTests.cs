using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests;

public class DeviceTests
{
    [Fact]
    public void MatmulOnCudaMatchesCpu()
    {
        CudaDevice.SkipUnlessAvailable();
        using var _ = NewDisposeScope();
        var gen = new Generator(7);
        Tensor a = randn([256, 256], generator: gen), b = randn([256, 256], generator: gen);
        Tensor expected = a.matmul(b);
        Tensor actual = a.cuda().matmul(b.cuda()).cpu();
        Assert.True(allclose(expected, actual, rtol: 1e-3, atol: 1e-3));
    }
}
