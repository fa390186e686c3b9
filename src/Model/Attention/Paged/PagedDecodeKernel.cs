namespace PagedSim.Model.Attention.Paged;

/// <summary>Which of the library's paged decode kernels runs (<c>psk_paged_kernel</c>).</summary>
public enum PagedDecodeKernel
{
    /// <summary>Scores and p·V on tensor cores (mma.sync), 128 tokens a pipeline stage; the default.</summary>
    TensorCores = 0,

    /// <summary>Scores and p·V in float32 on CUDA cores, 32 tokens a stage.</summary>
    CudaCores = 1,
}
