using PagedSim.Model.Parallel;
using TorchSharp;

namespace PagedSim.Gpu.Tests.Parallel;

/// <summary>Whether the NCCL tests can run: CUDA, libnccl.so.2, and enough GPUs; each test calls a skip first.</summary>
internal static class Nccl
{
    private static readonly Lazy<string?> s_missing = new(() =>
    {
        try
        {
            _ = NcclCollective.LibraryVersion;
            return null;
        }
        catch (NcclException e)
        {
            return e.Message;
        }
    });

    /// <summary>Skips without CUDA, without libnccl.so.2, or with fewer than <paramref name="gpus"/> GPUs.</summary>
    public static void SkipUnlessAvailable(int gpus = 1)
    {
        CudaDevice.SkipUnlessAvailable();
        Assert.SkipWhen(s_missing.Value is not null, $"No NCCL: {s_missing.Value}");
        long visible = torch.cuda.device_count();
        Assert.SkipWhen(visible < gpus, $"Needs {gpus} GPUs; {visible} visible");
    }
}
