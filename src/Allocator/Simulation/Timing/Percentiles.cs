namespace PagedSim.Allocator.Simulation;

/// <summary>The median and 90th percentile of a set of values (linear interpolation between order statistics).</summary>
/// <param name="P50">Median.</param>
/// <param name="P90">90th percentile.</param>
public readonly record struct Percentiles(double P50, double P90)
{
    /// <summary>The percentiles of <paramref name="values"/> (sorted in place); zeros when empty.</summary>
    public static Percentiles Of(Span<double> values)
    {
        if (values.IsEmpty) return default;
        values.Sort();
        return new Percentiles(At(values, 0.5), At(values, 0.9));
    }

    private static double At(ReadOnlySpan<double> sorted, double q)
    {
        double rank = q * (sorted.Length - 1);
        int low = (int)Math.Floor(rank);
        int high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }
}
