using PagedSim.Model.Attention.Flash;

namespace PagedSim.Gpu.Tests;

/// <summary>Skips a flash-attention test, with the reason, where there is no CUDA device or no native library.</summary>
internal static class FlashAvailability
{
    public static void SkipUnlessAvailable()
    {
        CudaDevice.SkipUnlessAvailable();
        string? missing = FlashAttentionBackend.UnavailableReason;
        Assert.SkipWhen(missing is not null, $"No flash-attention library: {missing}");
    }
}
