using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.KvCache;

/// <summary>
/// Host arrays to device tensors without waiting for the device: a plain copy from pageable memory waits until the
/// work already queued on the stream has run, which would stall the host while it prepares the next decode step.
/// The values go through pinned memory, which PyTorch's host allocator reuses only once the copy from it has run.
/// </summary>
internal static class DeviceUpload
{
    /// <summary>A device tensor of <paramref name="shape"/> holding <paramref name="values"/> (queued on CUDA).</summary>
    public static Tensor Of(long[] values, long[] shape, Device device) => Upload(tensor(values, shape), device);

    /// <inheritdoc cref="Of(long[], long[], Device)"/>
    public static Tensor Of(int[] values, long[] shape, Device device) => Upload(tensor(values, shape), device);

    private static Tensor Upload(Tensor host, Device device)
    {
        if (device.type != DeviceType.CUDA) return host.to(device);
        using (host)
        using (Tensor pinned = host.pin_memory())
            return pinned.to(device, non_blocking: true);
    }
}
