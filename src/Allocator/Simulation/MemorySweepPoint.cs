namespace PagedSim.Allocator.Simulation;

/// <summary>The largest static batches at one GPU memory size (a point of <see cref="MemorySweep"/>).</summary>
/// <param name="GpuMemoryBytes">Memory of one GPU.</param>
/// <param name="Paged">Largest paged batch and what stops it.</param>
/// <param name="Naive">Largest naive batch and what stops it.</param>
public sealed record MemorySweepPoint(long GpuMemoryBytes, MaxBatchResult Paged, MaxBatchResult Naive);
