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

    /// <summary>The largest static batches of <paramref name="trace"/> on a GPU of <paramref name="gpuBytes"/>.
    /// <paramref name="known"/> are points already found for this setup (at other sizes); the two nearest, extrapolated
    /// linearly, give the searches a starting guess, which changes only how many batches they simulate.</summary>
    public static MemorySweepPoint At(SimulationConfig config, Trace trace, long gpuBytes, IReadOnlyList<MemorySweepPoint>? known = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        SimulationConfig sized = config with { Memory = config.Memory with { Gpu = GpuSpec.OfSize(gpuBytes, ByteSize.Gb(gpuBytes)) } };
        return new MemorySweepPoint(gpuBytes,
            MaxBatchSearch.Run(sized, trace, paged: true, Extrapolate(known, gpuBytes, p => p.Paged.MaxBatch)),
            MaxBatchSearch.Run(sized, trace, paged: false, Extrapolate(known, gpuBytes, p => p.Naive.MaxBatch)));
    }

    /// <summary>The value at <paramref name="bytes"/> on the line through the two known points nearest to it (the
    /// nearest one's value when only one is known), or null when none is.</summary>
    internal static int? Extrapolate(IReadOnlyList<MemorySweepPoint>? known, long bytes, Func<MemorySweepPoint, int> value)
    {
        if (known is null || known.Count == 0) return null;
        MemorySweepPoint[] near = known.OrderBy(p => Math.Abs(p.GpuMemoryBytes - bytes)).Take(2).ToArray();
        if (near.Length == 1 || near[0].GpuMemoryBytes == near[1].GpuMemoryBytes) return value(near[0]);
        double slope = (double)(value(near[1]) - value(near[0])) / (near[1].GpuMemoryBytes - near[0].GpuMemoryBytes);
        double estimate = value(near[0]) + slope * (bytes - near[0].GpuMemoryBytes);
        return (int)Math.Clamp(Math.Round(estimate), 0, MaxBatchSearch.SearchLimit);
    }
}
