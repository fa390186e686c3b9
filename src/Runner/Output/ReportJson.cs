using System.Text.Json;
using System.Text.Json.Serialization;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Runner.Output;

/// <summary>The machine-readable report (<c>--json</c>); byte figures are bytes, shares are 0–1.</summary>
internal static class ReportJson
{
    /// <summary>Timelines are thinned to about this many points.</summary>
    public const int MaxTimelinePoints = 500;

    public static string Format(SimulationReport report)
    {
        SimulationConfig c = report.Config;
        MemoryModel m = c.Memory;
        var doc = new
        {
            Format = "pagedsim-simulation/1",
            Trace = report.TraceSource,
            Mode = c.Mode,
            SeedCompatible = c.SeedCompatible,
            BlockSize = c.BlockSize,
            MaxSequenceLength = c.MaxSequenceLength,
            Model = new { m.Model.Name, Parameters = m.Model.ParameterCount, Dtype = m.DType, WeightBytesPerGpu = m.WeightBytes, KvBytesPerTokenPerGpu = m.Layout.BytesPerToken },
            Gpu = new { m.Gpu.Name, m.Gpu.TotalMemoryBytes, TensorParallel = m.TensorParallel, OverheadFixedBytes = m.Overhead.FixedBytes },
            Scheduler = c.Mode == SimulationMode.Continuous ? c.SchedulerOptions : null,
            TimeModel = TimeModel(report.TimeParameters),
            Paged = Run(report.Paged, m),
            Naive = Run(report.Naive, m),
            MaxBatch = new { Paged = report.PagedMax, Naive = report.NaiveMax },
            PrefixCaching = c.PrefixCaching,
            PrefixSweep = report.PrefixSweep,
        };
        return JsonOutput.Serialize(doc);
    }

    private static object Run(RunResult r, MemoryModel m) => new
    {
        r.Fits,
        Reason = r.Fits ? (LimitReason?)null : r.Reason,
        r.Failure,
        r.Requests,
        r.Completed,
        r.Steps,
        r.Preemptions,
        r.CapacityUnits,
        r.CapacityBytes,
        r.OverheadBytes,
        PredictedPeakMemoryBytes = r.Fits ? ReportTable.PeakMemory(r, m) : (long?)null,
        Peak = Stats(r.Peak),
        Average = Stats(r.Average),
        r.SeedFragmentedBytes,
        SeedFragmentedShare = r.SeedFragmentedBytes is long b ? (double?)b / m.Gpu.TotalMemoryBytes : null,
        r.PrefixCache,
        Time = Time(r.Timing),
        Timeline = Thin(r.Timeline, MaxTimelinePoints),
    };

    /// <summary>The time model's effective figures and where they come from.</summary>
    public static object? TimeModel(StepTimeParameters? p) => p is null ? null : new
    {
        BandwidthBytesPerSecond = p.Bandwidth,
        MatrixFlopsPerSecond = p.MatrixFlops,
        PassSeconds = p.PassSeconds,
        SequenceSeconds = p.SequenceSeconds,
        NewBatchSizeSeconds = p.ShapeSeconds,
        InterconnectBytesPerSecond = p.InterconnectBandwidth,
        p.BandwidthEfficiency,
        p.MatrixEfficiency,
        p.Provenance,
    };

    /// <summary>A run's predicted time, or null.</summary>
    public static object? Time(TimingResult? t) => t is null ? null : new
    {
        t.WallSeconds,
        t.TokensPerSecond,
        t.GeneratedTokens,
        t.PrefillSeconds,
        t.DecodeSeconds,
        t.PrefillPasses,
        t.DecodePasses,
        MeanDecodeStepSeconds = t.MeanDecodeSeconds,
        TtftSeconds = new { t.Ttft.P50, t.Ttft.P90 },
        TpotSeconds = new { t.Tpot.P50, t.Tpot.P90 },
    };

    private static object Stats(KvStats s) => new
    {
        ReservedBytes = (long)Math.Round(s.ReservedBytes),
        FilledBytes = (long)Math.Round(s.FilledBytes),
        FragmentedBytes = (long)Math.Round(s.FragmentedBytes),
        // No KV reserved (nothing ran): utilisation is undefined, not 100%.
        Utilization = s.ReservedBytes > 0 ? (double?)s.Utilization : null,
    };

    /// <summary>Every k-th point, the last one always (see <see cref="TimelineSampling.Thin"/>).</summary>
    public static IReadOnlyList<TimelinePoint> Thin(IReadOnlyList<TimelinePoint> points, int max) => TimelineSampling.Thin(points, max);
}
