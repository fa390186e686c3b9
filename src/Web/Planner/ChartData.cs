using PagedSim.Allocator.Simulation;
using Plotly.Blazor;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;
using Plotly.Blazor.Traces.ScatterLib;
using Plotly.Blazor.Traces.ScatterLib.LineLib;

namespace PagedSim.Web.Planner;

/// <summary>The page's two charts as Plotly traces: KV memory over decode steps, and max batch over GPU memory.</summary>
public static class ChartData
{
    /// <summary>Points per timeline line (as <c>simulate --json</c> thins them).</summary>
    public const int MaxTimelinePoints = 500;

    /// <summary>Paged in blue, naive in orange-red (the command line's plot uses the same).</summary>
    public const string PagedColor = "#4682b4", NaiveColor = "#ff4500";

    /// <summary>KV memory in GB over decode steps: reserved (solid, a staircase) and holding tokens (dotted) for both
    /// caches, and the memory left beside weights and overhead (dashed).</summary>
    public static IList<ITrace> Timeline(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var traces = new List<ITrace>();
        AddRun(traces, report.Paged, "paged", PagedColor);
        AddRun(traces, report.Naive, "naive", NaiveColor);
        long steps = Math.Max(1, Math.Max(report.Paged.Steps, report.Naive.Steps));
        MemoryModel m = report.Config.Memory;
        double budget = (m.Gpu.TotalMemoryBytes - m.WeightBytes - report.Paged.OverheadBytes) / 1e9;
        traces.Add(Flat($"memory left beside weights and overhead ({m.Gpu.Name})", budget, steps, "#808080", "dash"));
        if (report.Config.SeedCompatible)
            traces.Add(Flat($"the seed's pool ({report.Paged.CapacityUnits} blocks)", report.Paged.CapacityBytes / 1e9, steps, PagedColor, "dashdot"));
        return traces;
    }

    /// <summary>Largest static batch over GPU memory (GB), paged against naive.</summary>
    public static IList<ITrace> Sweep(IReadOnlyList<MemorySweepPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        List<object> x = points.Select(p => (object)Math.Round(p.GpuMemoryBytes / 1e9, 2)).ToList();
        return
        [
            new Scatter
            {
                Name = "paged", Mode = ModeFlag.Lines | ModeFlag.Markers, X = x,
                Y = points.Select(p => (object)p.Paged.MaxBatch).ToList(), Line = new Line { Color = PagedColor, Width = 2 },
            },
            new Scatter
            {
                Name = "naive", Mode = ModeFlag.Lines | ModeFlag.Markers, X = x,
                Y = points.Select(p => (object)p.Naive.MaxBatch).ToList(), Line = new Line { Color = NaiveColor, Width = 2 },
            },
        ];
    }

    /// <summary>A chart layout with axis titles, sized by its container, legend below the plot (phones are narrow).</summary>
    public static Layout Layout(string xTitle, string yTitle) => new()
    {
        AutoSize = true,
        Height = 360,
        Margin = new Margin { L = 56, R = 16, T = 16, B = 48 },
        XAxis = [new XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = xTitle } }],
        YAxis = [new YAxis { Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = yTitle }, RangeMode = Plotly.Blazor.LayoutLib.YAxisLib.RangeModeEnum.ToZero }],
        Legend = [new Legend { Orientation = Plotly.Blazor.LayoutLib.LegendLib.OrientationEnum.H, Y = -0.25m }],
    };

    /// <summary>Interactive but quiet: resizes with the window, no logo, no cloud buttons.</summary>
    public static Config Config() => new() { Responsive = true, DisplayLogo = false, DisplayModeBar = Plotly.Blazor.ConfigLib.DisplayModeBarEnum.Hover };

    private static void AddRun(List<ITrace> traces, RunResult run, string name, string color)
    {
        IReadOnlyList<TimelinePoint> t = TimelineSampling.Thin(run.Timeline, MaxTimelinePoints);
        if (t.Count == 0) return;
        // Reserved memory changes only at recorded steps: a staircase from step 0.
        var steps = new List<object>(t.Count + 1) { 0L };
        var reserved = new List<object>(t.Count + 1) { t[0].ReservedBytes / 1e9 };
        foreach (TimelinePoint p in t)
        {
            steps.Add(p.Step);
            reserved.Add(p.ReservedBytes / 1e9);
        }
        traces.Add(new Scatter { Name = $"{name}: reserved", Mode = ModeFlag.Lines, X = steps, Y = reserved, Line = new Line { Color = color, Width = 2, Shape = ShapeEnum.Hv } });
        traces.Add(new Scatter
        {
            Name = $"{name}: holding tokens", Mode = ModeFlag.Lines, X = t.Select(p => (object)p.Step).ToList(),
            Y = t.Select(p => (object)(p.FilledBytes / 1e9)).ToList(), Line = new Line { Color = color, Width = 1.5m, Dash = "dot" },
        });
    }

    private static Scatter Flat(string name, double gb, long steps, string color, string dash) => new()
    {
        Name = name, Mode = ModeFlag.Lines, X = [0L, steps], Y = [gb, gb], Line = new Line { Color = color, Width = 1, Dash = dash },
    };
}
