using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.Attention.Paged;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// Picks the attention backend for <c>--attention auto|flash|paged|reference</c>: flash-attn when asked or, for auto,
/// when its library loads on CUDA and the block size suits its paged kernel (a multiple of 256); the library's own paged
/// decode kernel when asked or, for auto, for the other block sizes (prompts then go to flash-attn: in place where the
/// block size allows, else over a contiguous copy of their blocks); else the reference backend, with a one-line note
/// saying which and why.
/// </summary>
internal static class AttentionChoice
{
    /// <summary>The values <c>--attention</c> accepts.</summary>
    public static readonly string[] Values = ["auto", "flash", "paged", "reference"];

    /// <summary>The head dimension the native attention kernels are built for.</summary>
    public const int SupportedHeadDim = 128;

    /// <summary>The backend (dispose it when it is <see cref="IDisposable"/>) and the note to print.</summary>
    /// <exception cref="UserError"><c>flash</c> or <c>paged</c> was asked for but cannot run here.</exception>
    public static (IAttentionBackend Backend, string Note) Select(Device device, string attention, int blockSize, bool naive, int headDim = SupportedHeadDim)
    {
        // The native kernels are compiled for head dim 128 (every Llama 3 size but 3.2 1B, whose heads are 64 wide).
        string? dimMissing = headDim != SupportedHeadDim ? $"the native kernels are built for head dim {SupportedHeadDim}; this model's is {headDim}" : null;
        string? missing = device.type == DeviceType.CUDA ? FlashAttentionBackend.UnavailableReason ?? dimMissing : "flash-attn runs on CUDA only";
        bool blockOk = naive || blockSize % 256 == 0;
        if (attention == "flash")
        {
            if (missing is not null) throw new UserError($"--attention flash: {missing}", Cli.Failed);
            if (!blockOk) throw new UserError($"--attention flash: the paged kernel needs a block size that is a multiple of 256, got {blockSize}");
        }
        string? pagedMissing = device.type != DeviceType.CUDA ? "the paged decode kernel runs on CUDA only" : missing ?? PagedDecodeAttention.UnavailableReason ?? dimMissing;
        if (attention == "paged" && pagedMissing is not null) throw new UserError($"--attention paged: {pagedMissing}", Cli.Failed);
        if (attention == "paged" || (attention == "auto" && pagedMissing is null && !blockOk))
        {
            // The paged kernel's library is flash's: where it loads, flash's contiguous path takes any block size's prompts.
            IAttentionBackend prompts = blockOk ? new FlashAttentionBackend() : new GatheredFlashAttention();
            return (new PagedDecodeAttention(prompts),
                $"attention: paged decode kernel (native library, block {blockSize}); prompts: flash-attn 2{(blockOk ? "" : " over a contiguous copy of their blocks")}");
        }
        if (attention == "flash" || (attention == "auto" && missing is null && blockOk))
            return (new FlashAttentionBackend(), "attention: flash-attn 2 (paged split-KV kernel, native library)");
        string note = attention == "reference" ? "attention: reference backend (as asked)"
            : missing is not null ? $"attention: reference backend (flash-attn unavailable: {missing})"
            : $"attention: reference backend (flash-attn needs a block size that is a multiple of 256, got {blockSize})";
        return (new ReferenceAttention(), note);
    }
}
