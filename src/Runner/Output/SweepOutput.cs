using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Runner.Output;

/// <summary>The text table and the JSON document of <c>simulate --sweep</c>.</summary>
internal static class SweepOutput
{
    private static readonly JsonSerializerOptions s_options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Text(SimulationConfig config, string traceSource, IReadOnlyList<SweepPoint> points)
    {
        MemoryModel m = config.Memory;
        var sb = new StringBuilder();
        sb.AppendLine($"Largest static batch and its predicted speed across {points.Count} GPU(s): {traceSource} (repeated past its end)");
        sb.AppendLine($"  model   {m.Model.Name} {m.DType}, weights {ByteSize.Gb(m.WeightBytes)} per GPU{(m.TensorParallel > 1 ? $", tensor parallel × {m.TensorParallel}" : "")}; block {config.BlockSize}");
        sb.AppendLine();
        var rows = new List<string[]> { new[] { "gpu", "memory", "paged max", "naive max", "paged tokens/s", "naive tokens/s", "paged ÷ naive", "time figures" } };
        foreach (SweepPoint p in points)
        {
            double? paged = p.Paged?.TokensPerSecond, naive = p.Naive?.TokensPerSecond;
            rows.Add([
                p.Gpu.Name, ByteSize.Gb(p.Gpu.TotalMemoryBytes), $"{p.PagedMax.MaxBatch:N0}", $"{p.NaiveMax.MaxBatch:N0}",
                Rate(paged), Rate(naive), paged is double a && naive is double b && b > 0 ? (a / b).ToString("0.00", CultureInfo.InvariantCulture) + "×" : "-",
                Source(p.Gpu),
            ]);
        }
        int[] widths = [.. Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length))];
        foreach (string[] row in rows)
            sb.AppendLine("  " + string.Join("  ", row.Select((cell, c) => c is 0 or 1 or 7 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd());
        sb.AppendLine();
        sb.AppendLine("  tokens/s: answer tokens of the largest static batch over its predicted wall time (prefill, then decode to the last answer).");
        return sb.ToString();
    }

    public static string Json(SimulationConfig config, string traceSource, IReadOnlyList<SweepPoint> points)
    {
        MemoryModel m = config.Memory;
        var doc = new
        {
            Format = "pagedsim-sweep/1",
            Trace = traceSource,
            Model = new { m.Model.Name, Dtype = m.DType, WeightBytesPerGpu = m.WeightBytes, TensorParallel = m.TensorParallel },
            BlockSize = config.BlockSize,
            Points = points.Select(p => new
            {
                Gpu = p.Gpu.Name,
                p.Gpu.TotalMemoryBytes,
                TimeModel = ReportJson.TimeModel(StepTimeParameters.For(p.Gpu)),
                Paged = new { p.PagedMax.MaxBatch, Limit = p.PagedMax.Reason, Time = ReportJson.Time(p.Paged) },
                Naive = new { p.NaiveMax.MaxBatch, Limit = p.NaiveMax.Reason, Time = ReportJson.Time(p.Naive) },
            }),
        };
        return JsonSerializer.Serialize(doc, s_options) + "\n";
    }

    private static string Rate(double? r) => r is double v ? v.ToString("N0", CultureInfo.InvariantCulture) : "-";

    private static string Source(GpuSpec gpu) => StepTimeParameters.For(gpu) is StepTimeParameters p
        ? (p.Provenance.StartsWith("measured", StringComparison.Ordinal) ? "measured" : "datasheet-scaled")
        : "none (size alone)";
}
