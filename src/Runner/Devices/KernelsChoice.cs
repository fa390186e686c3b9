using PagedSim.Model.Kernels;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// Picks the layer kernels for <c>--kernels auto|fused|fused-no-graphs|eager</c> (see <see cref="LayerKernels"/>), with the
/// one-line note the runner prints beside the attention backend's.
/// </summary>
internal static class KernelsChoice
{
    /// <summary>The values <c>--kernels</c> accepts.</summary>
    public static string[] Values => LayerKernels.Choices;

    /// <exception cref="UserError"><c>fused</c> was asked for but cannot run here.</exception>
    public static (ILayerKernels Kernels, string Note) Select(Device device, ScalarType dtype, string choice)
    {
        string? missing = LayerKernels.WhyNotFused(device, dtype);
        if (choice.StartsWith("fused", StringComparison.Ordinal) && missing is not null) throw new UserError($"--kernels {choice}: {missing}", Cli.Failed);
        ILayerKernels kernels = LayerKernels.Select(choice, device, dtype);
        string note = kernels is FusedCudaKernels { CudaGraphs: true } ? "layer kernels: fused (native add+RMSNorm, RoPE+KV write, SiLU·mul; decode steps replayed as CUDA graphs)"
            : kernels.Name == "fused" ? "layer kernels: fused (native add+RMSNorm, RoPE+KV write, SiLU·mul; no CUDA graphs, as asked)"
            : choice == "eager" ? "layer kernels: eager TorchSharp operations (as asked)"
            : $"layer kernels: eager TorchSharp operations (fused unavailable: {missing})";
        return (kernels, note);
    }
}
