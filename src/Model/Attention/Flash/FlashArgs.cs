using System.Runtime.InteropServices;

namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// Mirror of the native <c>psf_fwd_args</c> (native/include/pagedsim_flash.h), field for field: sizes and strides in
/// elements, pointers to device memory unless named *Host. The library checks <c>sizeof</c> against
/// <see cref="Marshal.SizeOf{T}()"/> when it is loaded.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlashArgs
{
    public int DType, Batch, SeqLenQ, NumHeads, NumHeadsK, HeadDim, Causal;
    public float SoftmaxScale;

    public nint Q;
    public long QBatchStride, QRowStride, QHeadStride;
    public nint Out;
    public long OutBatchStride, OutRowStride, OutHeadStride;

    public nint K;
    public long KBatchStride, KRowStride, KHeadStride;
    public nint V;
    public long VBatchStride, VRowStride, VHeadStride;
    public int CacheBatch, CacheLen;

    public nint BlockTable, BlockTableHost;
    public long BlockTableStride;
    public int MaxBlocksPerSeq;

    public nint SeqLensK, SeqLensKHost;
    public int MaxSeqLenK;

    public nint Workspace;
    public long WorkspaceBytes;
    public int NumSplits, Device;
    public nint Stream;

    public nint CuSeqLensQ; // ABI 2: cumulative query offsets of a ragged call, or 0
}
