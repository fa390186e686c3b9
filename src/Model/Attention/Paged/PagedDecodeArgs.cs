using System.Runtime.InteropServices;

namespace PagedSim.Model.Attention.Paged;

/// <summary>Mirror of the native <c>psk_paged_args</c> (native/include/pagedsim_paged.h), field for field.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PagedDecodeArgs
{
    public int DType, Batch, Heads, KvHeads, HeadDim;
    public float SoftmaxScale;
    public nint Q, Out, KCache, VCache;
    public int BlockSize;
    public nint BlockTable;
    public long BlockTableStride;
    public nint SeqLens;
    public int MaxSeqLen, NumSplits, Kernel;
    public nint Workspace;
    public long WorkspaceBytes;
    public nint Stream;
}
