namespace PagedSim.Allocator.Simulation;

/// <summary>A trace file that cannot be used; the message names the file and the problem.</summary>
public sealed class TraceFormatException(string origin, string problem, Exception? inner = null)
    : Exception($"{origin}: {problem}", inner)
{
    /// <summary>The file (or description) the trace came from.</summary>
    public string Origin { get; } = origin;
}
