namespace PagedSim.Gpu.NoDevice;

/// <summary>
/// Where no NVIDIA device exists, <c>dotnet test</c> leaves the CUDA tests out (tests/Gpu/Gpu.csproj filters them) and
/// this one test says so in one line instead of one skip line per test. Run the executable itself
/// (<c>dotnet PagedSim.Gpu.Tests.dll</c>) to see every test report itself skipped.
/// </summary>
public class GpuTestsNotRun
{
    [Fact]
    public void Cuda_tests()
    {
        if (PagedSim.Gpu.Tests.CudaDevice.Missing is string reason)
            Assert.Skip($"the CUDA tests were left out: no CUDA device ({reason})");
    }
}
