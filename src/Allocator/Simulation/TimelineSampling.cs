namespace PagedSim.Allocator.Simulation;

/// <summary>Thins a timeline for reports and charts, so long runs stay readable.</summary>
public static class TimelineSampling
{
    /// <summary>Every k-th point (the last one always), at most about <paramref name="max"/> points.</summary>
    public static IReadOnlyList<TimelinePoint> Thin(IReadOnlyList<TimelinePoint> points, int max)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        if (points.Count <= max) return points;
        int stride = (points.Count + max - 1) / max;
        var result = new List<TimelinePoint>();
        for (int i = 0; i < points.Count; i += stride) result.Add(points[i]);
        if (result[^1] != points[^1]) result.Add(points[^1]);
        return result;
    }
}
