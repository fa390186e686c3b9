using System.Runtime.InteropServices;

namespace PagedSim.Model.Kernels;

/// <summary>Mirror of the native <c>psk_layer</c> (native/include/pagedsim_kernels.h): one layer's device pointers.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeLayer
{
    public nint AttentionNorm, Wqkv, Wo, FfnNorm, W13, W2, KCache, VCache;
}
