using System.Text.RegularExpressions;
using PagedSim.Allocator;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Runner;

/// <summary>Turns libtorch's CUDA out-of-memory error (and a paged pool running dry) into one line with the memory
/// needed and free.</summary>
internal static partial class RunOutOfMemory
{
    /// <summary>True for libtorch's out-of-memory error (TorchSharp surfaces it as an ExternalException with its message).</summary>
    public static bool Is(Exception e) =>
        e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase) && e is not UserError;

    /// <summary>The one-line error for an out-of-memory failure while <paramref name="phase"/>.</summary>
    public static UserError Describe(Exception e, string phase, long? predictedPeak)
    {
        if (e is OutOfBlocksException blocks)
            return new UserError($"out of KV blocks while {phase}: a request needed {blocks.Needed} block(s), {blocks.Free} of {blocks.Total} were free " +
                "(the pool holds what fits in memory; run fewer requests)", Cli.Failed, e);
        Match tried = TriedPattern().Match(e.Message);
        string needed = tried.Success ? $"tried to allocate {tried.Groups[1].Value}" : "an allocation failed";
        // libtorch's message says what was free when the allocation failed; the driver's figure afterwards would count
        // memory libtorch still caches.
        Match freeNow = FreePattern().Match(e.Message);
        string free = freeNow.Success ? $"{freeNow.Groups[2].Value} free of {freeNow.Groups[1].Value}"
            : RunDeviceMemory.Query() is (long f, long total) ? $"{ByteSize.Gb(f)} free of {ByteSize.Gb(total)}" : "free memory unknown";
        string predicted = predictedPeak is long p ? $"; the run needs about {ByteSize.Gb(p)} by the simulator's model" : "";
        return new UserError($"CUDA out of memory while {phase}: {needed}, {free}{predicted}", Cli.Failed, e);
    }

    [GeneratedRegex(@"Tried to allocate ([0-9.]+ ?[KMGT]i?B)", RegexOptions.IgnoreCase)]
    private static partial Regex TriedPattern();

    [GeneratedRegex(@"total capacity of ([0-9.]+ ?[KMGT]i?B) of which ([0-9.]+ ?[KMGT]i?B) is free", RegexOptions.IgnoreCase)]
    private static partial Regex FreePattern();
}
