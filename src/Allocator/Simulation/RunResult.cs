namespace PagedSim.Allocator.Simulation;

/// <summary>The outcome of replaying a trace through one cache (paged or naive).</summary>
/// <param name="Cache">"paged" or "naive".</param>
/// <param name="Fits">True when every request completed without running out of memory.</param>
/// <param name="Reason">What stopped it, when it did not fit.</param>
/// <param name="Failure">One line on the failure, or null.</param>
/// <param name="Requests">Requests replayed.</param>
/// <param name="Completed">Requests that finished.</param>
/// <param name="Steps">Decode steps until the last request finished (or the failure).</param>
/// <param name="Preemptions">Requests preempted (continuous mode, paged).</param>
/// <param name="CapacityUnits">Blocks in the pool (paged) or max-length reservations that fit (naive).</param>
/// <param name="CapacityBytes">KV memory available to the cache.</param>
/// <param name="OverheadBytes">Modelled overhead at this batch.</param>
/// <param name="Peak">Highest reserved, filled and fragmented bytes over the run (each its own maximum).</param>
/// <param name="Average">Time-averaged over steps.</param>
/// <param name="SeedFragmentedBytes">The seed's own fragmentation figure at the end of a static run (paged:
/// empty slots of every table's last block, finished tables included; naive: (max length − answer tokens) per
/// request), or null in continuous mode.</param>
/// <param name="Timeline">State after every step where something changed (empty unless asked for).</param>
/// <param name="PrefixCache">What prefix caching saved (continuous mode with prefix caching), else null.</param>
/// <param name="Timing">Predicted time (null unless asked for, when the run does not fit, for the seed's timeline,
/// or when the GPU has no performance figures).</param>
public sealed record RunResult(
    string Cache, bool Fits, LimitReason Reason, string? Failure, int Requests, int Completed, long Steps, int Preemptions,
    long CapacityUnits, long CapacityBytes, long OverheadBytes, KvStats Peak, KvStats Average, long? SeedFragmentedBytes,
    IReadOnlyList<TimelinePoint> Timeline, PrefixCacheStats? PrefixCache = null, TimingResult? Timing = null);
