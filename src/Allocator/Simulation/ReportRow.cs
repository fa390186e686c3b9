namespace PagedSim.Allocator.Simulation;

/// <summary>One row of the paged-against-naive table, formatted as the command line prints it.</summary>
/// <param name="Label">What the row shows ("fits", "peak KV reserved", …).</param>
/// <param name="Paged">The paged cache's figure.</param>
/// <param name="Naive">The naive cache's figure.</param>
public sealed record ReportRow(string Label, string Paged, string Naive);
