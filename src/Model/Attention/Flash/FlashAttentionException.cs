namespace PagedSim.Model.Attention.Flash;

/// <summary>A flash-attention call was refused (bad arguments) or failed; <see cref="Status"/> says which.</summary>
public sealed class FlashAttentionException : Exception
{
    /// <summary>Creates the exception for <paramref name="status"/> with a one-line <paramref name="message"/>.</summary>
    public FlashAttentionException(FlashStatus status, string message, Exception? inner = null)
        : base($"flash-attention: {message} ({status})", inner) => Status = status;

    /// <summary>The error code.</summary>
    public FlashStatus Status { get; }
}
