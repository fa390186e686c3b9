using PagedSim.Allocator.Simulation;

namespace PagedSim.Web.Planner;

/// <summary>What the page shows: the report (as <c>simulate</c> prints it), the sweep, and how long they took.</summary>
/// <param name="Report">Paged against naive for the requests, and both max batches.</param>
/// <param name="Sweep">Max batches over GPU memory sizes (grows while the sweep runs).</param>
/// <param name="ReportMilliseconds">Time until the report was ready.</param>
/// <param name="TotalMilliseconds">Time until the sweep was done too (null while it runs).</param>
/// <param name="SimulationMilliseconds">Of the total, the time spent simulating (the rest went to the browser between
/// pieces: painting, drawing the charts, taking input).</param>
public sealed record PlannerResult(SimulationReport Report, IReadOnlyList<MemorySweepPoint> Sweep, double ReportMilliseconds, double? TotalMilliseconds, double? SimulationMilliseconds);
