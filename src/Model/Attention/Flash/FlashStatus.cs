namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// Why a flash-attention call was refused or failed. Values 0–13 are the native library's <c>psf_status</c> codes
/// (native/include/pagedsim_flash.h); <see cref="LibraryNotFound"/> and <see cref="AbiMismatch"/> come from loading it.
/// </summary>
public enum FlashStatus
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>A required pointer (tensor) is missing.</summary>
    NullPointer = 1,
    /// <summary>Head dim is not 128, the only size built.</summary>
    HeadDim = 2,
    /// <summary>The tensors are not all fp16 or all bf16.</summary>
    DType = 3,
    /// <summary>Paged cache: the block size is not a positive multiple of 256 (a flash-attention 2 requirement).</summary>
    PageSize = 4,
    /// <summary>A stride is not a positive multiple of 8 elements, the head dim is not contiguous, or a pointer is misaligned.</summary>
    Stride = 5,
    /// <summary>A sequence length is outside [1, capacity], or shorter than the query when causal.</summary>
    SequenceLength = 6,
    /// <summary>Shapes do not agree (batch, heads, cache dimensions, output).</summary>
    Shape = 7,
    /// <summary>The split-KV workspace is missing or too small.</summary>
    Workspace = 8,
    /// <summary>A block id or cache row is outside the cache.</summary>
    BlockTable = 9,
    /// <summary>No usable CUDA device, or one older than compute capability 8.0.</summary>
    Device = 10,
    /// <summary>A CUDA call or kernel launch failed.</summary>
    Cuda = 11,
    /// <summary>The split count is outside [0, 128].</summary>
    Splits = 12,
    /// <summary>An unexpected failure inside the library.</summary>
    Internal = 13,
    /// <summary>The native library was not found or could not be loaded.</summary>
    LibraryNotFound = 100,
    /// <summary>The native library is of another ABI version than this binding.</summary>
    AbiMismatch = 101,
}
