using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace PagedSim.Bench;

/// <summary>Effective KV read bandwidth of a decode benchmark: batch x context x bytes per token over the mean time.</summary>
internal sealed class FlashKvBandwidthColumn(long bytesPerToken) : IColumn
{
    public string Id => nameof(FlashKvBandwidthColumn);
    public string ColumnName => "KV TB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "K and V bytes the decode step reads / mean time (10^12 bytes per second)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (meanNs is null || benchmarkCase.Parameters["Shape"] is not FlashDecodeShape shape) return "-";
        double bytes = (double)shape.Batch * shape.Context * bytesPerToken;
        return (bytes / (meanNs.Value * 1e-9) / 1e12).ToString("F2");
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
}
