using PagedSim.Allocator.Simulation;
using ScottPlot;

namespace PagedSim.Runner.Output;

/// <summary>The <c>simulate --sweep … --plot</c> PNG: largest batch (left axis) and predicted tokens/s (right axis),
/// naive against paged, across the swept GPUs.</summary>
internal static class SweepPlot
{
    public static void Save(SimulationConfig config, IReadOnlyList<SweepPoint> points, bool byMemory, string path)
    {
        var plot = new Plot();
        double[] xs = byMemory ? [.. points.Select(p => p.Gpu.TotalMemoryBytes / 1e9)] : [.. points.Select((_, i) => (double)i)];
        Line(plot, xs, [.. points.Select(p => (double)p.PagedMax.MaxBatch)], "paged: max batch", Colors.SteelBlue, LinePattern.Solid, right: false);
        Line(plot, xs, [.. points.Select(p => (double)p.NaiveMax.MaxBatch)], "naive: max batch", Colors.OrangeRed, LinePattern.Solid, right: false);
        if (points.Any(p => p.Paged is not null || p.Naive is not null))
        {
            Line(plot, xs, [.. points.Select(p => p.Paged?.TokensPerSecond ?? double.NaN)], "paged: tokens/s (right)", Colors.SteelBlue, LinePattern.Dashed, right: true);
            Line(plot, xs, [.. points.Select(p => p.Naive?.TokensPerSecond ?? double.NaN)], "naive: tokens/s (right)", Colors.OrangeRed, LinePattern.Dashed, right: true);
            plot.Axes.Right.Label.Text = "predicted tokens/s at the largest batch";
        }
        if (byMemory) plot.XLabel("GPU memory (GB)");
        else
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xs, [.. points.Select(p => p.Gpu.Name)]);
            plot.XLabel("GPU");
        }
        plot.YLabel("largest static batch (requests)");
        MemoryModel m = config.Memory;
        string chip = byMemory && points.Count > 0 && points[0].Gpu.Name.Contains(" with ", StringComparison.Ordinal)
            ? $" on {points[0].Gpu.Name.Split(" with ")[0]}" : "";
        plot.Title($"{m.Model.Name} {m.DType}{(m.TensorParallel > 1 ? $" ×{m.TensorParallel}" : "")}{chip}, block {config.BlockSize}: largest batch and speed, naive vs paged");
        plot.ShowLegend(Alignment.UpperLeft);
        PlotFont.Apply(plot);
        AtomicFile.Write(path, tmp => plot.SavePng(tmp, 1000, 600));
    }

    private static void Line(Plot plot, double[] xs, double[] ys, string label, Color color, LinePattern pattern, bool right)
    {
        var line = plot.Add.ScatterLine(xs, ys, color);
        line.LinePattern = pattern;
        line.LineWidth = 2;
        line.MarkerSize = 6;
        line.LegendText = label;
        if (right) line.Axes.YAxis = plot.Axes.Right;
    }
}
