using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Flash;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// Picks the attention backend for <c>--attention auto|flash|reference</c>: flash-attn when asked or, for auto, when its
/// library loads on CUDA and the block size suits its paged kernel (a multiple of 256); else the reference backend,
/// with a one-line note saying which and why.
/// </summary>
internal static class AttentionChoice
{
    /// <summary>The values <c>--attention</c> accepts.</summary>
    public static readonly string[] Values = ["auto", "flash", "reference"];

    /// <summary>The backend (dispose it when it is <see cref="IDisposable"/>) and the note to print.</summary>
    /// <exception cref="UserError"><c>flash</c> was asked for but cannot run here.</exception>
    public static (IAttentionBackend Backend, string Note) Select(Device device, string attention, int blockSize, bool naive)
    {
        string? missing = device.type == DeviceType.CUDA ? FlashAttentionBackend.UnavailableReason : "flash-attn runs on CUDA only";
        bool blockOk = naive || blockSize % 256 == 0;
        if (attention == "flash")
        {
            if (missing is not null) throw new UserError($"--attention flash: {missing}", Cli.Failed);
            if (!blockOk) throw new UserError($"--attention flash: the paged kernel needs a block size that is a multiple of 256, got {blockSize}");
        }
        if (attention == "flash" || (attention == "auto" && missing is null && blockOk))
            return (new FlashAttentionBackend(), "attention: flash-attn 2 (paged split-KV kernel, native library)");
        string note = attention == "reference" ? "attention: reference backend (as asked)"
            : missing is not null ? $"attention: reference backend (flash-attn unavailable: {missing})"
            : $"attention: reference backend (flash-attn needs a block size that is a multiple of 256, got {blockSize})";
        return (new ReferenceAttention(), note);
    }
}
