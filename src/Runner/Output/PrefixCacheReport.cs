using System.Globalization;
using System.Text;
using PagedSim.Allocator.Simulation;
using ScottPlot;

namespace PagedSim.Runner.Output;

/// <summary><c>simulate --prefix-caching</c>'s figures: hit rate and prefill saved, and the hit rate over GPU memory
/// sizes (text and PNG).</summary>
internal static class PrefixCacheReport
{
    /// <summary>The text section (empty when the run had no prefix caching).</summary>
    public static string Format(SimulationReport report)
    {
        var sb = new StringBuilder();
        long blockBytes = report.Config.Memory.Layout.BytesPerBlock(report.Config.BlockSize);
        if (report.Paged.PrefixCache is PrefixCacheStats p)
        {
            sb.AppendLine();
            sb.AppendLine(F($"  prefix cache: hit rate {p.HitRate:P1} ({p.CachedTokens:N0} of {p.PromptTokens:N0} prompt tokens cached, prefill tokens saved {p.CachedTokens:N0}), peak {(long)(report.Paged.Peak.ReservedBytes / blockBytes):N0} of {report.Paged.CapacityUnits:N0} blocks held, {p.Evictions:N0} cached blocks evicted"));
        }
        if (report.PrefixSweep is { Count: > 0 } sweep)
        {
            sb.AppendLine();
            sb.AppendLine("  prefix hit rate by GPU memory (with caching | without)");
            sb.AppendLine("       gpu     blocks  hit rate  prefill saved  peak blocks  evictions      steps  preempt. |      steps  preempt.");
            foreach (PrefixCacheSweepPoint q in sweep)
                sb.AppendLine(F($"  {q.Gpu,8} {q.Blocks,10:N0} {q.HitRate,9:P1} {q.Stats?.CachedTokens ?? 0,14:N0} {q.PeakBlocks,12:N0} {q.Stats?.Evictions ?? 0,10:N0} {q.Steps,10:N0} {q.Preemptions,9:N0} | {q.StepsWithoutCaching,10:N0} {q.PreemptionsWithoutCaching,9:N0}{(q.Fits ? "" : "  (does not fit)")}"));
        }
        return sb.ToString();
    }

    /// <summary>The hit rate (left axis) and preemptions over GPU memory, as a PNG.</summary>
    public static void SavePlot(SimulationReport report, string path)
    {
        PrefixCacheSweepPoint[] sweep = (report.PrefixSweep ?? []).Where(q => q.Blocks > 0).ToArray(); // sizes without a pool have no rate
        var plot = new Plot();
        double[] xs = sweep.Select(q => q.GpuBytes / 1e9).ToArray();
        var hits = plot.Add.Scatter(xs, sweep.Select(q => q.HitRate * 100).ToArray(), Colors.SteelBlue);
        hits.LineWidth = 2;
        hits.LegendText = "prefix hit rate (%)";
        var preempt = plot.Add.Scatter(xs, sweep.Select(q => (double)q.Preemptions).ToArray(), Colors.OrangeRed);
        preempt.Axes.YAxis = plot.Axes.Right;
        preempt.LinePattern = LinePattern.Dashed;
        preempt.LegendText = "preemptions (right axis)";
        plot.Title(F($"Prefix hit rate as KV memory shrinks: {report.Paged.Requests} requests from {report.TraceSource}, {report.Config.Memory.Model.Name}, block {report.Config.BlockSize}"));
        plot.XLabel("GPU memory (GB)");
        plot.YLabel("cached prompt tokens / prompt tokens (%)");
        plot.Axes.Right.Label.Text = "preemptions";
        plot.Axes.SetLimitsY(0, 100);
        plot.ShowLegend(Alignment.LowerRight);
        PlotFont.Apply(plot);
        AtomicFile.Write(path, tmp => plot.SavePng(tmp, 1000, 600));
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
