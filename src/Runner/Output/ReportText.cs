using System.Globalization;
using System.Text;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Runner.Output;

/// <summary>The human-readable report: setup, a paged-versus-naive table, max batches and a short timeline.</summary>
internal static class ReportText
{
    public static string Format(SimulationReport report, int timelineRows = 8)
    {
        SimulationConfig c = report.Config;
        MemoryModel m = c.Memory;
        long total = m.Gpu.TotalMemoryBytes;
        var sb = new StringBuilder();
        sb.AppendLine($"{(c.Mode == SimulationMode.Static ? "Static batch" : "Continuous batching")} of {report.Paged.Requests} request(s) from {report.TraceSource}");
        sb.AppendLine($"  model   {m.Model.Name}: {m.Model.ParameterCount / 1e9:0.00}B parameters, {m.DType}, weights {ByteSize.Gb(m.WeightBytes)} per GPU, KV {m.Layout.BytesPerToken:N0} bytes/token per GPU");
        sb.AppendLine($"  gpu     {m.Gpu.Name}: {total:N0} bytes ({ByteSize.Gb(total)}){(m.TensorParallel > 1 ? $" × {m.TensorParallel} (tensor parallel)" : "")}");
        sb.AppendLine($"  time    {TimeSource(report)}");
        sb.AppendLine($"  paged   block {c.BlockSize} tokens ({ByteSize.Gb(m.Layout.BytesPerBlock(c.BlockSize))}), {(c.SeedCompatible ? $"seed-compatible: pool of {c.SeedPoolBlocks} blocks, random block choice, finished requests keep a block" : "pool = all memory left beside weights and overhead")}");
        sb.AppendLine();

        var table = new List<(string, string, string)>
        {
            ("", "paged", "naive"),
            ("fits", Fits(report.Paged), Fits(report.Naive)),
            ("KV capacity", $"{report.Paged.CapacityUnits:N0} blocks, {ByteSize.Gb(report.Paged.CapacityBytes)}", $"{report.Naive.CapacityUnits:N0} × {c.MaxSequenceLength:N0} tokens, {ByteSize.Gb(report.Naive.CapacityBytes)}"),
            ("overhead", ByteSize.Gb(report.Paged.OverheadBytes), ByteSize.Gb(report.Naive.OverheadBytes)),
            ("peak memory needed", PeakText(report.Paged, m), PeakText(report.Naive, m)),
            ("peak KV reserved", Gb(report.Paged.Peak.ReservedBytes), Gb(report.Naive.Peak.ReservedBytes)),
            ("peak KV filled", Gb(report.Paged.Peak.FilledBytes), Gb(report.Naive.Peak.FilledBytes)),
            ("peak KV fragmentation", Gb(report.Paged.Peak.FragmentedBytes), Gb(report.Naive.Peak.FragmentedBytes)),
            ("avg KV reserved", Gb(report.Paged.Average.ReservedBytes), Gb(report.Naive.Average.ReservedBytes)),
            ("avg KV filled", Gb(report.Paged.Average.FilledBytes), Gb(report.Naive.Average.FilledBytes)),
            ("KV utilisation (avg)", Pct(report.Paged), Pct(report.Naive)),
            ("seed's fragmentation", SeedFigure(report.Paged, total), SeedFigure(report.Naive, total)),
            ("steps", $"{report.Paged.Steps:N0}", $"{report.Naive.Steps:N0}"),
            ("completed", $"{report.Paged.Completed}/{report.Paged.Requests}", $"{report.Naive.Completed}/{report.Naive.Requests}"),
        };
        if (c.Mode == SimulationMode.Continuous) table.Add(("preemptions", $"{report.Paged.Preemptions:N0}", "0"));
        if (report.Paged.Timing is not null || report.Naive.Timing is not null)
        {
            table.Add(("predicted wall time", Time(report.Paged, t => Seconds(t.WallSeconds)), Time(report.Naive, t => Seconds(t.WallSeconds))));
            table.Add(("  prefill / decode", Time(report.Paged, Phases), Time(report.Naive, Phases)));
            table.Add(("tokens/s", Time(report.Paged, t => t.TokensPerSecond.ToString("N1", CultureInfo.InvariantCulture)), Time(report.Naive, t => t.TokensPerSecond.ToString("N1", CultureInfo.InvariantCulture))));
            table.Add(("TTFT p50 / p90", Time(report.Paged, t => Pair(t.Ttft)), Time(report.Naive, t => Pair(t.Ttft))));
            table.Add(("TPOT p50 / p90", Time(report.Paged, t => Pair(t.Tpot)), Time(report.Naive, t => Pair(t.Tpot))));
        }
        table.Add(("max static batch", Max(report.PagedMax), Max(report.NaiveMax)));
        int w0 = table.Max(r => r.Item1.Length), w1 = table.Max(r => r.Item2.Length);
        foreach ((string a, string b, string d) in table) sb.AppendLine($"  {a.PadRight(w0)}  {b.PadRight(w1)}  {d}");
        sb.AppendLine();
        sb.AppendLine($"  paged limit: {report.PagedMax.Detail}");
        sb.AppendLine($"  naive limit: {report.NaiveMax.Detail}");
        foreach (RunResult r in new[] { report.Paged, report.Naive })
            if (r.Failure is not null) sb.AppendLine($"  {r.Cache} run: {r.Failure}");

        IReadOnlyList<TimelinePoint> t = report.Paged.Timeline;
        if (t.Count > 0 && timelineRows > 0)
        {
            sb.AppendLine();
            sb.AppendLine("  paged timeline (sampled)");
            sb.AppendLine("      step   blocks  running  waiting   reserved     filled");
            IEnumerable<int> rows = Enumerable.Range(0, timelineRows)
                .Select(i => (int)((long)i * (t.Count - 1) / Math.Max(1, timelineRows - 1))).Distinct();
            foreach (TimelinePoint p in rows.Select(i => t[i]))
                sb.AppendLine($"  {p.Step,8:N0} {p.Units,8:N0} {p.Running,8:N0} {p.Waiting,8:N0} {ByteSize.Gb(p.ReservedBytes),10} {ByteSize.Gb(p.FilledBytes),10}");
        }
        return sb.ToString();
    }

    /// <summary>Weights, overhead and the peak KV reservation: what the requests need at the busiest step (a paged
    /// runtime that preallocates its whole pool shows more on the device).</summary>
    public static long PeakMemory(RunResult r, MemoryModel m) =>
        m.WeightBytes + r.OverheadBytes + (long)r.Peak.ReservedBytes;

    /// <summary>The peak, or "over …" for a run that ran out of memory.</summary>
    public static string PeakText(RunResult r, MemoryModel m) =>
        r.Fits ? ByteSize.Gb(PeakMemory(r, m)) : $"over {ByteSize.Gb(m.Gpu.TotalMemoryBytes)}";

    public static string Fits(RunResult r) => r.Fits ? "yes" : $"no ({Reason(r.Reason)})";

    public static string Reason(LimitReason reason) => reason switch
    {
        LimitReason.Memory => "GPU memory",
        LimitReason.SeedPool => "the seed's block pool",
        LimitReason.MaxLengthReservations => "max-length reservations fill memory",
        LimitReason.WeightsDoNotFit => "weights and overhead do not fit",
        LimitReason.RequestTooLarge => "a request exceeds the pool",
        LimitReason.SearchLimit => "search limit",
        _ => "fits",
    };

    /// <summary>Where the time figures come from, or why there are none.</summary>
    public static string TimeSource(SimulationReport report)
    {
        if (report.TimeParameters is not StepTimeParameters p) return "not predicted: a memory size alone has no chip figures (add --gpu NAME)";
        string note = report.Config.SeedCompatible ? "; not predicted for the seed's timeline" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{p.Bandwidth / 1e12:0.00} TB/s, {p.MatrixFlops / 1e12:0} TFLOPS effective, {p.PassSeconds * 1e3:0.00} ms a pass, {p.SequenceSeconds * 1e6:0.0} µs a sequence; {p.Provenance}{note}");
    }

    /// <summary>Seconds as "1.23 s" or "45.6 ms".</summary>
    public static string Seconds(double s) => s >= 1
        ? s.ToString("N2", CultureInfo.InvariantCulture) + " s"
        : (s * 1e3).ToString("0.00", CultureInfo.InvariantCulture) + " ms";

    private static string Time(RunResult r, Func<TimingResult, string> format) => r.Timing is TimingResult t ? format(t) : "-";

    private static string Phases(TimingResult t) =>
        $"{Seconds(t.PrefillSeconds)} / {Seconds(t.DecodeSeconds)} ({Seconds(t.MeanDecodeSeconds)} a step)";

    private static string Pair(Percentiles p) => $"{Seconds(p.P50)} / {Seconds(p.P90)}";

    private static string Max(MaxBatchResult r) => $"{r.MaxBatch:N0} ({Reason(r.Reason)}){(r.TraceRepeated ? ", trace repeated" : "")}";

    private static string SeedFigure(RunResult r, long total) => r.SeedFragmentedBytes is long b
        ? $"{ByteSize.Gb(b)} ({(100.0 * b / total).ToString("0.00", CultureInfo.InvariantCulture)}%)"
        : "-";

    private static string Gb(double bytes) => ByteSize.Gb((long)Math.Round(bytes));

    private static string Pct(RunResult r) =>
        r.Steps == 0 ? "-" : (r.Average.Utilization * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";
}
