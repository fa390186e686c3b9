using PagedSim.Allocator.Simulation;
using ScottPlot;

namespace PagedSim.Runner.Output;

/// <summary>The <c>--plot</c> PNG: KV memory over decode steps, naive against paged.</summary>
internal static class ReportPlot
{
    public static void Save(SimulationReport report, string path)
    {
        var plot = new Plot();
        AddRun(plot, report.Naive, "naive", Colors.OrangeRed);
        AddRun(plot, report.Paged, "paged", Colors.SteelBlue);
        MemoryModel m = report.Config.Memory;
        long kvBudget = m.Gpu.TotalMemoryBytes - m.WeightBytes - report.Paged.OverheadBytes;
        var limit = plot.Add.HorizontalLine(kvBudget / 1e9);
        limit.LinePattern = LinePattern.Dashed;
        limit.Color = Colors.Gray;
        limit.LegendText = $"memory left beside weights and overhead ({m.Gpu.Name})";
        if (report.Config.SeedCompatible)
        {
            var pool = plot.Add.HorizontalLine(report.Paged.CapacityBytes / 1e9);
            pool.LinePattern = LinePattern.DenselyDashed;
            pool.Color = Colors.SteelBlue;
            pool.LegendText = $"the seed's pool ({report.Paged.CapacityUnits} blocks)";
        }
        // A run that does not fit has no timeline: draw what it would reserve against the memory line instead.
        double needed = 0;
        foreach (RunResult r in new[] { report.Naive, report.Paged }.Where(r => !r.Fits && r.Timeline.Count == 0))
        {
            double bytes = r == report.Naive
                ? (double)r.Requests * report.Config.MaxSequenceLength * m.Layout.BytesPerToken
                : (double)r.Requests * m.Layout.BytesPerBlock(report.Config.BlockSize);
            needed = Math.Max(needed, bytes);
            var wanted = plot.Add.HorizontalLine(bytes / 1e9);
            wanted.Color = r == report.Naive ? Colors.OrangeRed : Colors.SteelBlue;
            wanted.LineWidth = 2;
            wanted.LegendText = r == report.Naive
                ? $"naive would reserve {r.Requests:N0} × {report.Config.MaxSequenceLength:N0} tokens: does not fit"
                : $"paged needs at least {r.Requests:N0} blocks: does not fit";
        }
        plot.Title($"{m.Gpu.Name}, {m.Model.Name} {m.DType}: {report.Paged.Requests:N0} request(s), {report.Config.Mode.ToString().ToLowerInvariant()}, block {report.Config.BlockSize}\n"
            + $"max batch: paged {report.PagedMax.MaxBatch:N0}, naive {report.NaiveMax.MaxBatch:N0}");
        plot.XLabel("decode step");
        plot.YLabel("KV memory (GB)");
        plot.Axes.SetLimitsY(0, Math.Max(Math.Max(kvBudget, needed), Math.Max(report.Naive.Peak.ReservedBytes, report.Paged.Peak.ReservedBytes)) / 1e9 * 1.1);
        // Beside the data, never over it.
        plot.ShowLegend(Edge.Bottom);
        PlotFont.Apply(plot);
        AtomicFile.Write(path, tmp => plot.SavePng(tmp, 1000, 600));
    }

    private static void AddRun(Plot plot, RunResult run, string name, Color color)
    {
        IReadOnlyList<TimelinePoint> t = run.Timeline;
        if (t.Count == 0) return;
        // Reserved memory changes only at recorded steps: draw it as a staircase.
        var xs = new List<double> { 0 };
        var reserved = new List<double> { t[0].ReservedBytes / 1e9 };
        foreach (TimelinePoint p in t)
        {
            xs.Add(p.Step);
            reserved.Add(p.ReservedBytes / 1e9);
        }
        var line = plot.Add.ScatterLine(xs.ToArray(), reserved.ToArray(), color);
        line.ConnectStyle = ConnectStyle.StepHorizontal;
        line.LineWidth = 2;
        line.LegendText = $"{name}: reserved";
        var filled = plot.Add.ScatterLine(t.Select(p => (double)p.Step).ToArray(), t.Select(p => p.FilledBytes / 1e9).ToArray(), color);
        filled.LinePattern = LinePattern.Dotted;
        filled.LegendText = $"{name}: holding tokens";
    }
}
