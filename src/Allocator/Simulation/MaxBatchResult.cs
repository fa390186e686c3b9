namespace PagedSim.Allocator.Simulation;

/// <summary>The largest static batch that never runs out of memory.</summary>
/// <param name="MaxBatch">Requests that fit (0 when not even one does).</param>
/// <param name="Reason">What stops one more.</param>
/// <param name="Detail">How the next larger batch fails.</param>
/// <param name="TraceRepeated">True when the search went past the end of the trace and repeated its requests.</param>
public sealed record MaxBatchResult(int MaxBatch, LimitReason Reason, string Detail, bool TraceRepeated);
