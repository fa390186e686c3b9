namespace PagedSim.Model.Attention.Paged;

/// <summary>The native paged decode attention refused its arguments, failed, or is missing from the library.</summary>
public sealed class PagedAttentionException(string message, Exception? inner = null) : Exception(message, inner);
