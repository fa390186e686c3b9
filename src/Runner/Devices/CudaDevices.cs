using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>The CUDA device for commands given <c>--device cuda</c>, or one clear line saying why there is none.</summary>
internal static class CudaDevices
{
    /// <summary>The device for <c>--device auto|cuda|cpu</c>: auto takes CUDA when it is available.</summary>
    public static Device Resolve(string choice) => choice switch
    {
        "cpu" => CPU,
        "cuda" => CudaOrFail(),
        _ => Available() ? CUDA : CPU,
    };

    private static bool Available()
    {
        try
        {
            return torch.cuda.is_available();
        }
        catch (Exception)
        {
            return false; // no loadable libtorch: auto falls back to the CPU, which then reports its own error
        }
    }

    /// <summary>The CUDA device; throws <see cref="UserError"/> when libtorch cannot load or sees no GPU.</summary>
    public static Device CudaOrFail()
    {
        bool available;
        try
        {
            available = torch.cuda.is_available();
        }
        catch (Exception e)
        {
            throw new UserError($"--device cuda: libtorch could not be loaded ({e.Message.Split('\n')[0]})", Cli.Failed, e);
        }
        if (!available) throw new UserError("--device cuda: no CUDA device (or a CPU-only libtorch; build with -p:TorchBackend=cuda)", Cli.Failed);
        return CUDA;
    }
}
