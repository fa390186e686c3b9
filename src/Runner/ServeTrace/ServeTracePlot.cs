using PagedSim.Allocator.Simulation;
using PagedSim.Runner.Output;
using ScottPlot;

namespace PagedSim.Runner;

/// <summary>The <c>--plot</c> PNGs of <c>serve-trace</c>.</summary>
internal static class ServeTracePlot
{
    /// <summary>Running and waiting requests (left axis) and blocks in use, measured and predicted (right axis), per step.</summary>
    public static void Save(ServeTraceReport r, string path)
    {
        var plot = new Plot();
        var t = r.Run.Timeline;
        double[] steps = t.Select(p => (double)p.Step).ToArray();
        var running = plot.Add.ScatterLine(steps, t.Select(p => (double)p.Running).ToArray(), Colors.SteelBlue);
        running.LegendText = "running requests";
        running.ConnectStyle = ConnectStyle.StepHorizontal;
        var waiting = plot.Add.ScatterLine(steps, t.Select(p => (double)p.Waiting).ToArray(), Colors.OrangeRed);
        waiting.LegendText = "waiting requests";
        waiting.ConnectStyle = ConnectStyle.StepHorizontal;
        var blocks = plot.Add.ScatterLine(steps, t.Select(p => (double)p.UsedBlocks).ToArray(), Colors.SeaGreen);
        blocks.LegendText = "blocks in use (run)";
        blocks.ConnectStyle = ConnectStyle.StepHorizontal;
        blocks.LineWidth = 2;
        blocks.Axes.YAxis = plot.Axes.Right;
        IReadOnlyList<TimelinePoint> sim = r.Prediction.Simulation.Timeline;
        if (sim.Count > 0)
        {
            long blockBytes = r.Setup.BlockBytes;
            var predicted = plot.Add.ScatterLine(sim.Select(p => (double)p.Step).ToArray(), sim.Select(p => (double)p.Units).ToArray(), Colors.Black);
            predicted.LegendText = "blocks in use (simulator)";
            predicted.ConnectStyle = ConnectStyle.StepHorizontal;
            predicted.LinePattern = LinePattern.Dotted;
            predicted.Axes.YAxis = plot.Axes.Right;
        }
        var pool = plot.Add.HorizontalLine(r.Setup.PoolBlocks);
        pool.LinePattern = LinePattern.Dashed;
        pool.Color = Colors.Gray;
        pool.LegendText = $"pool ({r.Setup.PoolBlocks} blocks)";
        pool.Axes.YAxis = plot.Axes.Right;
        plot.Title($"serve-trace: {r.Setup.Requests.Count} request(s), block {r.Setup.Settings.BlockSize}, {r.Run.Preemptions} preemption(s)");
        plot.XLabel("step");
        plot.YLabel("requests");
        plot.Axes.Right.Label.Text = "blocks";
        plot.Axes.SetLimitsY(0, Math.Max(1, t.Max(p => Math.Max(p.Running, p.Waiting))) * 1.4, plot.Axes.Left);
        plot.Axes.SetLimitsY(0, r.Setup.PoolBlocks * 1.4, plot.Axes.Right);
        plot.ShowLegend(Alignment.UpperRight);
        PlotFont.Apply(plot);
        AtomicFile.Write(path, tmp => plot.SavePng(tmp, 1000, 600));
    }

    /// <summary>Blocks in use per step, shared against independent copies, measured and predicted.</summary>
    public static void SaveSampling(ServeTraceSamplingReport r, string path)
    {
        var plot = new Plot();
        void Add(IReadOnlyList<int> perStep, string name, Color color, bool dotted)
        {
            var line = plot.Add.ScatterLine(Enumerable.Range(1, perStep.Count).Select(x => (double)x).ToArray(), perStep.Select(x => (double)x).ToArray(), color);
            line.LegendText = name;
            line.ConnectStyle = ConnectStyle.StepHorizontal;
            if (dotted) line.LinePattern = LinePattern.Dotted;
            else line.LineWidth = 2;
        }
        Add(r.Independent.BlocksPerStep, "independent copies (run)", Colors.OrangeRed, false);
        Add(r.PredictedIndependent.BlocksPerStep, "independent copies (predicted)", Colors.Black, true);
        Add(r.Forked.BlocksPerStep, "shared prompt blocks (run)", Colors.SteelBlue, false);
        Add(r.PredictedForked.BlocksPerStep, "shared prompt blocks (predicted)", Colors.Black, true);
        plot.Title($"parallel sampling: {r.Setup.Settings.Samples} samples of {r.Setup.Requests.Count} prompt(s), block {r.Setup.Settings.BlockSize}");
        plot.XLabel("step");
        plot.YLabel("blocks in use");
        plot.Axes.SetLimitsY(0, Math.Max(1, r.Independent.PeakBlocks) * 1.1);
        plot.ShowLegend(Alignment.UpperRight);
        PlotFont.Apply(plot);
        AtomicFile.Write(path, tmp => plot.SavePng(tmp, 1000, 600));
    }
}
