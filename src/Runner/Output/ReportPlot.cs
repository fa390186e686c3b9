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
        string missing = string.Join("", new[] { report.Naive, report.Paged }.Where(r => !r.Fits).Select(r => $"; {r.Cache} does not fit"));
        plot.Title($"KV cache in use: {report.Paged.Requests} request(s), {report.Config.Mode.ToString().ToLowerInvariant()}, block {report.Config.BlockSize}{missing}");
        plot.XLabel("decode step");
        plot.YLabel("KV memory (GB)");
        plot.Axes.SetLimitsY(0, Math.Max(kvBudget, (long)Math.Max(report.Naive.Peak.ReservedBytes, report.Paged.Peak.ReservedBytes)) / 1e9 * 1.1);
        plot.ShowLegend(Alignment.UpperRight);
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
