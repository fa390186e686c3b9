namespace PagedSim.Model.Parallel;

/// <summary>NCCL could not be loaded, or one of its calls failed; the message is one line naming the call and NCCL's reason.</summary>
public sealed class NcclException(string message, Exception? inner = null) : Exception(message, inner);
