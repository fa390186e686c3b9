using PagedSim.Allocator.Simulation;

namespace PagedSim.Model.ShareGpt;

/// <summary>A length trace built from ShareGPT requests.</summary>
/// <param name="Trace">One entry per request with a recorded answer, in file order.</param>
/// <param name="SkippedWithoutAnswer">Ids of requests left out because they have no recorded answer (so no output
/// length).</param>
public sealed record ShareGptTrace(Trace Trace, IReadOnlyList<string> SkippedWithoutAnswer);
