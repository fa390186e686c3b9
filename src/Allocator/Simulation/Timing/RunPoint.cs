namespace PagedSim.Allocator.Simulation;

/// <summary>
/// One measured static run of the runner (the root command): its requests' lengths and how long its prefill and
/// decode phases took. The prefill calibrates the matrix rate; the decode phase, the per-batch-size cost.
/// </summary>
/// <param name="What">The command that was run.</param>
/// <param name="Requests">(prompt tokens, answer tokens) of each request, in order.</param>
/// <param name="PrefillPasses">Prefill passes the run reported (checked against <see cref="PrefillPlan"/>).</param>
/// <param name="PrefillSeconds">Seconds of all prefill passes.</param>
/// <param name="DecodeSteps">Decode steps the run reported (checked against the requests' lengths).</param>
/// <param name="DecodeSeconds">Seconds of all decode steps.</param>
/// <param name="MaxPrefillTokens">Most tokens a prefill pass took.</param>
public sealed record RunPoint(
    string What, IReadOnlyList<(int Prompt, int Output)> Requests, int PrefillPasses, double PrefillSeconds,
    long DecodeSteps, double DecodeSeconds, int MaxPrefillTokens = 8192);
