using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// The address of a tensor's first element (storage offset included), on whatever device it lives. TorchSharp 0.107
/// has no public data_ptr(), so this calls its native bridge's THSTensor_data (at::Tensor::data_ptr) directly.
/// </summary>
internal static unsafe class TensorPointer
{
    private static readonly Lazy<nint> s_data = new(Resolve);

    /// <summary>The device (or host) address of <paramref name="tensor"/>'s data.</summary>
    public static nint Of(Tensor tensor)
    {
        nint address = ((delegate* unmanaged<nint, nint>)s_data.Value)(tensor.Handle);
        if (address == 0 && tensor.numel() > 0)
            throw new FlashAttentionException(FlashStatus.NullPointer, "TorchSharp returned no data pointer for a tensor");
        return address;
    }

    private static nint Resolve()
    {
        // The same library TorchSharp itself loaded, found the way its own P/Invokes find it.
        if (!NativeLibrary.TryLoad("LibTorchSharp", typeof(torch).Assembly, null, out nint handle)
            || !NativeLibrary.TryGetExport(handle, "THSTensor_data", out nint address))
            throw new FlashAttentionException(FlashStatus.LibraryNotFound, "TorchSharp's native bridge (LibTorchSharp, THSTensor_data) could not be loaded");
        return address;
    }
}
