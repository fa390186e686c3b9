namespace PagedSim.Model.Parallel;

/// <summary>A collective call was released because another rank of its group failed (that rank's error is the cause to report).</summary>
public sealed class CollectiveAbortedException(string message, Exception? inner = null) : Exception(message, inner);
