using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Kernels;

/// <summary>Chooses the layer kernels for a device and dtype: <c>auto</c>, <c>fused</c>, <c>fused-no-graphs</c> or <c>eager</c>.</summary>
public static class LayerKernels
{
    /// <summary>The names <see cref="Select"/> accepts.</summary>
    public static readonly string[] Choices = ["auto", "fused", "fused-no-graphs", "eager"];

    /// <summary>
    /// <c>auto</c>: fused on CUDA in bf16/fp16 when the native library has the kernels, else eager. <c>fused</c>
    /// insists (throws with the reason when it cannot run); <c>fused-no-graphs</c> too, without replaying decode steps
    /// as CUDA graphs; <c>eager</c> always works.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown choice, or <c>fused</c> where it cannot run.</exception>
    public static ILayerKernels Select(string choice, Device device, ScalarType dtype)
    {
        string? missing = WhyNotFused(device, dtype);
        return choice switch
        {
            "eager" => EagerKernels.Instance,
            "auto" => missing is null ? new FusedCudaKernels() : EagerKernels.Instance,
            "fused" => missing is null ? new FusedCudaKernels() : throw new ArgumentException($"fused kernels: {missing}", nameof(choice)),
            "fused-no-graphs" => missing is null ? new FusedCudaKernels { CudaGraphs = false } : throw new ArgumentException($"fused kernels: {missing}", nameof(choice)),
            _ => throw new ArgumentException($"unknown kernels '{choice}' (expected {string.Join(", ", Choices)})", nameof(choice)),
        };
    }

    /// <summary>Null when the fused kernels can run on <paramref name="device"/> in <paramref name="dtype"/>, else why not.</summary>
    public static string? WhyNotFused(Device device, ScalarType dtype) =>
        device.type != DeviceType.CUDA ? "they run on CUDA only"
        : dtype is not (ScalarType.BFloat16 or ScalarType.Float16) ? $"they take bf16 or fp16, not {dtype}"
        : FusedCudaKernels.UnavailableReason;
}
