using System.CommandLine;
using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner.Output;

namespace PagedSim.Runner;

/// <summary><c>simulate</c>: replays a length trace through the paged and the naive cache and predicts fragmentation
/// and the largest batch for a GPU size, without a GPU.</summary>
internal static class SimulateCommand
{
    /// <summary>The committed ShareGPT trace, the default.</summary>
    public const string DefaultTrace = "sharegpt-llama3.trace.json";

    public static Command Create()
    {
        var setup = new SetupOptions();
        var trace = new Option<string?>("--trace") { Description = $"Trace file (pagedsim-trace/1 JSON); default fixtures/{DefaultTrace}" };
        var requests = new Option<int?>("--requests") { Description = "Replay the first N requests of the trace (default: all; in static mode they form one batch)" };
        var synthetic = new Option<int?>("--synthetic") { Description = "Replay K synthetic requests drawn from the trace's length distribution" };
        var seed = new Option<int>("--seed") { Description = "Random seed for --synthetic and for the seed-compatible block choice", DefaultValueFactory = _ => 0 };
        var blockSize = new Option<int>("--block-size") { Description = "Tokens per paged block", DefaultValueFactory = _ => 256 };
        var mode = new Option<string>("--mode") { Description = "static (all start together, the seed's experiment) or continuous (waiting queue, preemption)", DefaultValueFactory = _ => "static" };
        var seedCompat = new Option<bool>("--seed-compat") { Description = "Paged exactly as the seed: pool of (8192 / block size) × 5 blocks, random blocks, finished requests keep one block" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of KV memory over time, naive against paged (with --sweep: largest batch and tokens/s across the GPUs)" };
        var sweep = new Option<string?>("--sweep") { Description = "Across GPUs: gpu-mem=FROM:TO[:STEP] or gpu-mem=SIZE,SIZE,… (the --gpu chip with each memory size), or gpu=NAME,NAME,… / gpu=all" };

        var command = new Command("simulate", "Predict KV-cache fragmentation and the largest batch for a GPU, paged against naive, from a length trace");
        setup.AddTo(command);
        foreach (Option o in new Option[] { trace, requests, synthetic, seed, blockSize, mode, seedCompat, json, plot, sweep }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            MemoryModel memory = setup.Resolve(parse);
            Trace source = LoadTrace(parse.GetValue(trace), memory.Model.MaxSequenceLength);
            int randomSeed = parse.GetValue(seed);
            if (parse.GetValue(synthetic) is int k)
            {
                if (k <= 0) throw new UserError($"--synthetic: request count must be positive, got {k}");
                source = SyntheticTrace.Draw(source, k, randomSeed);
            }
            IReadOnlyList<TraceRequest> batch = Take(source, parse.GetValue(requests));
            SimulationMode simulationMode = parse.GetValue(mode)?.ToLowerInvariant() switch
            {
                "static" => SimulationMode.Static,
                "continuous" => SimulationMode.Continuous,
                var other => throw new UserError($"--mode: unknown mode \"{other}\"; known: static, continuous"),
            };
            var config = new SimulationConfig(memory, parse.GetValue(blockSize), simulationMode, parse.GetValue(seedCompat), SchedulerOptions.Default, randomSeed);
            Validate(config);
            string? plotPath = parse.GetValue(plot);
            if (parse.GetValue(sweep) is string sweepText)
                return Sweep(config, source, sweepText, parse.GetValue(setup.Gpu), parse.GetValue(json), plotPath);
            SimulationReport report = Guard(() => SimulationReport.Create(config, source, batch, keepTimeline: true));
            string text = parse.GetValue(json) ? ReportJson.Format(report) : ReportText.Format(report);
            // The plot first: a bad path then fails before anything is printed.
            if (plotPath is not null) ReportPlot.Save(report, plotPath);
            Console.Out.Write(text);
            return 0;
        });
        return command;
    }

    /// <summary><c>--sweep</c>: the largest batches and their predicted speed across GPUs.</summary>
    private static int Sweep(SimulationConfig config, Trace trace, string sweepText, string? gpuName, bool json, string? plotPath)
    {
        // A memory sweep keeps the --gpu chip (its time figures); without --gpu, sizes alone have none.
        GpuSpec? chip = gpuName is null ? null : GpuSpec.FindPreset(gpuName);
        IReadOnlyList<GpuSpec> gpus = SweepSpec.Parse(sweepText, chip);
        if (config.SeedCompatible) throw new UserError("--sweep: not with --seed-compat (its pool does not grow with memory)");
        IReadOnlyList<SweepPoint> points = Guard(() => new ProgressDisplay(ProgressDisplay.IsTerminal, Console.Error).Run("sweep", update =>
            GpuSweep.Run(config, trace, gpus, i => update($"{i + 1}/{gpus.Count} GPUs: {gpus[i].Name}"))));
        if (plotPath is not null) SweepPlot.Save(config, points, sweepText.TrimStart().StartsWith("gpu-mem", StringComparison.OrdinalIgnoreCase), plotPath);
        Console.Out.Write(json ? SweepOutput.Json(config, trace.Source, points) : SweepOutput.Text(config, trace.Source, points));
        return 0;
    }

    /// <summary>Reads a trace, or the committed ShareGPT trace; problems become one line.</summary>
    public static Trace LoadTrace(string? path, int maxSequenceLength)
    {
        try
        {
            return TraceFile.Read(path ?? Fixtures.Path(DefaultTrace), maxSequenceLength);
        }
        catch (TraceFormatException e)
        {
            throw new UserError(e.Message);
        }
    }

    /// <summary>The first <paramref name="count"/> requests (all when null).</summary>
    public static IReadOnlyList<TraceRequest> Take(Trace trace, int? count)
    {
        if (count is not int n) return trace.Requests;
        if (n <= 0 || n > trace.Requests.Count)
            throw new UserError($"--requests: the trace {trace.Source} has {trace.Requests.Count} request(s); ask for 1 to {trace.Requests.Count}");
        return trace.Requests.Take(n).ToArray();
    }

    /// <summary>Runs a simulation step, turning a setup it cannot simulate into one line.</summary>
    public static T Guard<T>(Func<T> simulate)
    {
        try
        {
            return simulate();
        }
        catch (ArgumentException e)
        {
            throw new UserError(e.Message.Split(" (Parameter")[0]);
        }
    }

    /// <summary>Checks a setup, turning argument errors into one line.</summary>
    public static void Validate(SimulationConfig config)
    {
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            string option = e.ParamName switch { "BlockSize" => "--block-size: ", "tp" => "--tp: ", _ => "" };
            throw new UserError(option + e.Message.Split(" (Parameter")[0].Split(Environment.NewLine)[0]);
        }
    }
}
