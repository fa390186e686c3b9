namespace PagedSim.Allocator.Simulation;

/// <summary>One GPU of a sweep: the largest static batch, paged and naive, and the predicted time of each batch.</summary>
/// <param name="Gpu">The GPU (a preset, or a chip with another memory size).</param>
/// <param name="PagedMax">Largest static paged batch.</param>
/// <param name="NaiveMax">Largest static naive batch.</param>
/// <param name="Paged">Predicted time of the largest paged batch (null when none fits or no chip figures).</param>
/// <param name="Naive">Predicted time of the largest naive batch.</param>
public sealed record SweepPoint(GpuSpec Gpu, MaxBatchResult PagedMax, MaxBatchResult NaiveMax, TimingResult? Paged, TimingResult? Naive);
