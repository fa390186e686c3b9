using System.Globalization;

namespace PagedSim.Allocator.Simulation;

/// <summary>
/// The figures of a <see cref="SimulationReport"/> as text: the title, the setup lines and the paged-against-naive
/// table. The command line and the web page both print these, so the same inputs show the same numbers.
/// </summary>
public static class ReportTable
{
    /// <summary>"Static batch of 7 request(s) from sharegpt-llama3.trace.json".</summary>
    public static string Title(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return $"{(report.Config.Mode == SimulationMode.Static ? "Static batch" : "Continuous batching")} of {report.Paged.Requests} request(s) from {report.TraceSource}";
    }

    /// <summary>The setup: model, GPU and the paged cache's block and pool.</summary>
    public static IReadOnlyList<(string Label, string Text)> Setup(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        SimulationConfig c = report.Config;
        MemoryModel m = c.Memory;
        long total = m.Gpu.TotalMemoryBytes;
        return
        [
            ("model", $"{m.Model.Name}: {m.Model.ParameterCount / 1e9:0.00}B parameters, {m.DType}, weights {ByteSize.Gb(m.WeightBytes)} per GPU, KV {m.Layout.BytesPerToken:N0} bytes/token per GPU"),
            ("gpu", $"{m.Gpu.Name}: {total:N0} bytes ({ByteSize.Gb(total)}){(m.TensorParallel > 1 ? $" × {m.TensorParallel} (tensor parallel)" : "")}"),
            ("time", TimeSource(report)),
            ("paged", $"block {c.BlockSize} tokens ({ByteSize.Gb(m.Layout.BytesPerBlock(c.BlockSize))}), {(c.SeedCompatible ? $"seed-compatible: pool of {c.SeedPoolBlocks} blocks, random block choice, finished requests keep a block" : "pool = all memory left beside weights and overhead")}"),
        ];
    }

    /// <summary>The table's rows, without a header.</summary>
    public static IReadOnlyList<ReportRow> Rows(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        SimulationConfig c = report.Config;
        MemoryModel m = c.Memory;
        long total = m.Gpu.TotalMemoryBytes;
        RunResult p = report.Paged, n = report.Naive;
        var rows = new List<ReportRow>
        {
            new("fits", Fits(p), Fits(n)),
            new("KV capacity", $"{p.CapacityUnits:N0} blocks, {ByteSize.Gb(p.CapacityBytes)}", $"{n.CapacityUnits:N0} × {c.MaxSequenceLength:N0} tokens, {ByteSize.Gb(n.CapacityBytes)}"),
            new("overhead", ByteSize.Gb(p.OverheadBytes), ByteSize.Gb(n.OverheadBytes)),
            new("peak memory needed", PeakText(p, m), PeakText(n, m)),
            new("peak KV reserved", Gb(p.Peak.ReservedBytes), Gb(n.Peak.ReservedBytes)),
            new("peak KV filled", Gb(p.Peak.FilledBytes), Gb(n.Peak.FilledBytes)),
            new("peak KV fragmentation", Gb(p.Peak.FragmentedBytes), Gb(n.Peak.FragmentedBytes)),
            new("avg KV reserved", Gb(p.Average.ReservedBytes), Gb(n.Average.ReservedBytes)),
            new("avg KV filled", Gb(p.Average.FilledBytes), Gb(n.Average.FilledBytes)),
            new("KV utilisation (avg)", Utilization(p), Utilization(n)),
            new("seed's fragmentation", SeedFigure(p, total), SeedFigure(n, total)),
            new("steps", $"{p.Steps:N0}", $"{n.Steps:N0}"),
            new("completed", $"{p.Completed}/{p.Requests}", $"{n.Completed}/{n.Requests}"),
        };
        if (c.Mode == SimulationMode.Continuous) rows.Add(new("preemptions", $"{p.Preemptions:N0}", "0"));
        if (p.Timing is not null || n.Timing is not null)
        {
            rows.Add(new("predicted wall time", Time(p, t => Seconds(t.WallSeconds)), Time(n, t => Seconds(t.WallSeconds))));
            rows.Add(new("  prefill / decode", Time(p, Phases), Time(n, Phases)));
            rows.Add(new("tokens/s", Time(p, t => t.TokensPerSecond.ToString("N1", CultureInfo.InvariantCulture)), Time(n, t => t.TokensPerSecond.ToString("N1", CultureInfo.InvariantCulture))));
            rows.Add(new("TTFT p50 / p90", Time(p, t => Pair(t.Ttft)), Time(n, t => Pair(t.Ttft))));
            rows.Add(new("TPOT p50 / p90", Time(p, t => Pair(t.Tpot)), Time(n, t => Pair(t.Tpot))));
        }
        rows.Add(new("max static batch", MaxBatch(report.PagedMax), MaxBatch(report.NaiveMax)));
        return rows;
    }

    /// <summary>Weights, overhead and the peak KV reservation: what the requests need at the busiest step (a paged
    /// runtime that preallocates its whole pool shows more on the device).</summary>
    public static long PeakMemory(RunResult r, MemoryModel m)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(m);
        return m.WeightBytes + r.OverheadBytes + (long)r.Peak.ReservedBytes;
    }

    /// <summary>The peak, or "over …" for a run that ran out of memory.</summary>
    public static string PeakText(RunResult r, MemoryModel m) =>
        r.Fits ? ByteSize.Gb(PeakMemory(r, m)) : $"over {ByteSize.Gb(m.Gpu.TotalMemoryBytes)}";

    /// <summary>"yes", or "no (reason)".</summary>
    public static string Fits(RunResult r) => r.Fits ? "yes" : $"no ({Reason(r.Reason)})";

    /// <summary>What stops a batch, in words.</summary>
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

    /// <summary>"62 (the seed's block pool)", with ", trace repeated" when the batch outgrew the trace.</summary>
    public static string MaxBatch(MaxBatchResult r) => $"{r.MaxBatch:N0} ({Reason(r.Reason)}){(r.TraceRepeated ? ", trace repeated" : "")}";

    /// <summary>The seed's fragmentation figure and its share of the GPU's memory, or "-" when there is none.</summary>
    public static string SeedFigure(RunResult r, long totalBytes) => r.SeedFragmentedBytes is long b
        ? $"{ByteSize.Gb(b)} ({(100.0 * b / totalBytes).ToString("0.00", CultureInfo.InvariantCulture)}%)"
        : "-";

    /// <summary>Time-averaged KV utilisation in percent, or "-" for a run without steps.</summary>
    public static string Utilization(RunResult r) =>
        r.Steps == 0 ? "-" : (r.Average.Utilization * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>Where the time figures come from, or why there are none.</summary>
    public static string TimeSource(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
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

    private static string Gb(double bytes) => ByteSize.Gb((long)Math.Round(bytes));
}
