namespace PagedSim.Allocator.Simulation;

/// <summary>The largest static batch, paged and naive, over a range of GPU memory sizes: everything but the GPU's
/// size stays as configured. One point at a time, so a caller can interleave other work between points.</summary>
public static class MemorySweep
{
    /// <summary>Most points a sweep takes.</summary>
    public const int MaxPoints = 200;

    /// <summary><paramref name="points"/> sizes evenly spaced from <paramref name="fromBytes"/> to
    /// <paramref name="toBytes"/>, both included.</summary>
    public static IReadOnlyList<long> Sizes(long fromBytes, long toBytes, int points)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fromBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(toBytes, fromBytes);
        if (points < 2 || points > MaxPoints)
            throw new ArgumentOutOfRangeException(nameof(points), points, $"A sweep takes 2 to {MaxPoints} points.");
        var sizes = new long[points];
        for (int i = 0; i < points; i++) sizes[i] = fromBytes + (long)((double)(toBytes - fromBytes) * i / (points - 1));
        return sizes;
    }

    /// <summary>The largest static batches of <paramref name="trace"/> on a GPU of <paramref name="gpuBytes"/>.</summary>
    public static SweepPoint At(SimulationConfig config, Trace trace, long gpuBytes)
    {
        ArgumentNullException.ThrowIfNull(config);
        SimulationConfig sized = config with { Memory = config.Memory with { Gpu = GpuSpec.OfSize(gpuBytes, ByteSize.Gb(gpuBytes)) } };
        return new SweepPoint(gpuBytes, MaxBatchSearch.Run(sized, trace, paged: true), MaxBatchSearch.Run(sized, trace, paged: false));
    }
}
