namespace PagedSim.Allocator.Simulation;

/// <summary>State after one step; between two points nothing changes but every running request's length.</summary>
/// <param name="Step">The step (from 1).</param>
/// <param name="Units">Blocks in use (paged) or live reservations (naive).</param>
/// <param name="ReservedBytes">KV bytes held.</param>
/// <param name="FilledBytes">KV bytes holding tokens.</param>
/// <param name="Running">Requests in the batch.</param>
/// <param name="Waiting">Requests waiting (continuous mode).</param>
public readonly record struct TimelinePoint(long Step, long Units, long ReservedBytes, long FilledBytes, int Running, int Waiting);
