using System.Text;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Runner.Output;

/// <summary>The human-readable report: setup, a paged-versus-naive table, max batches and a short timeline.</summary>
internal static class ReportText
{
    public static string Format(SimulationReport report, int timelineRows = 8)
    {
        var sb = new StringBuilder();
        sb.AppendLine(ReportTable.Title(report));
        foreach ((string label, string text) in ReportTable.Setup(report)) sb.AppendLine($"  {label,-8}{text}");
        sb.AppendLine();

        var table = new List<(string, string, string)> { ("", "paged", "naive") };
        table.AddRange(ReportTable.Rows(report).Select(r => (r.Label, r.Paged, r.Naive)));
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

    /// <summary>Weights, overhead and the peak KV reservation (see <see cref="ReportTable.PeakMemory"/>).</summary>
    public static long PeakMemory(RunResult r, MemoryModel m) => ReportTable.PeakMemory(r, m);

    public static string Reason(LimitReason reason) => ReportTable.Reason(reason);

    /// <summary>Seconds as "1.23 s" or "45.6 ms".</summary>
    public static string Seconds(double s) => ReportTable.Seconds(s);
}
