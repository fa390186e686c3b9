using PagedSim.Allocator.Simulation;

namespace PagedSim.Web.Planner;

/// <summary>A resolved setup: what the simulator runs.</summary>
/// <param name="Config">Model, GPU, cache and batching.</param>
/// <param name="Trace">The trace the max-batch searches draw from.</param>
/// <param name="Requests">The requests replayed (the whole trace, or its first N).</param>
/// <param name="SweepSizes">GPU memory sizes of the sweep.</param>
public sealed record PlannerPlan(SimulationConfig Config, Trace Trace, IReadOnlyList<TraceRequest> Requests, IReadOnlyList<long> SweepSizes);
