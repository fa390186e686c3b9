using System.Runtime.InteropServices;
using PagedSim.Model.Attention.Flash;

namespace PagedSim.Model.Kernels;

/// <summary>
/// Mirror of the native <c>psk_forward_args</c>, field for field; the binding checks <c>sizeof</c> against
/// <see cref="Marshal.SizeOf{T}()"/> when the library is loaded.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeForwardArgs
{
    public int DType, Tokens, Dim, Heads, KvHeads, HeadDim, Hidden, Layers;
    public float NormEps;
    public nint Layer, FinalNorm, Residual, Normed, Qkv, Q, Attn, Delta, GateUp, Act, Positions, Slots, Rope;
    public FlashArgs Attention;
    public int Paged;
    public nint Stream;
    /// <summary>Null: flash attention. Otherwise a pinned <c>psk_paged_args</c> the decode pass's attention uses.</summary>
    public nint DecodeAttention;
}
