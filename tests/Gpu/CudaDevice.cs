using TorchSharp;

namespace PagedSim.Gpu.Tests;

/// <summary>Whether this machine can run the GPU tests; every test calls <see cref="SkipUnlessAvailable"/> first.</summary>
internal static class CudaDevice
{
    private static readonly Lazy<string?> s_missing = new(Probe);

    /// <summary>Null when CUDA is usable, else why not.</summary>
    public static string? Missing => s_missing.Value;

    public static void SkipUnlessAvailable() =>
        Assert.SkipWhen(Missing is not null, $"No CUDA device: {Missing}");

    private static string? Probe()
    {
        try
        {
            return torch.cuda.is_available() ? null : "torch.cuda.is_available() is false (no GPU or a CPU-only libtorch)";
        }
        catch (Exception e)
        {
            return $"libtorch could not be loaded ({e.GetType().Name}: {e.Message.Split('\n')[0]})";
        }
    }
}
