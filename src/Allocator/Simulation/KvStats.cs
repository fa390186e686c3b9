namespace PagedSim.Allocator.Simulation;

/// <summary>KV memory at a moment, or averaged over steps.</summary>
/// <param name="ReservedBytes">Held by requests (blocks in use, or max-length reservations).</param>
/// <param name="FilledBytes">Holding token states.</param>
/// <param name="FragmentedBytes">Reserved but empty (internal fragmentation and not-yet-used reservation).</param>
public readonly record struct KvStats(double ReservedBytes, double FilledBytes, double FragmentedBytes)
{
    /// <summary>Share of reserved KV memory that holds token states (the vLLM paper's Figure 2), 0–1.</summary>
    public double Utilization => ReservedBytes <= 0 ? 1.0 : FilledBytes / ReservedBytes;
}
