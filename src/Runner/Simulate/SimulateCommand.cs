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
        var requests = new Option<int?>("--requests") { Description = "Replay the first N requests of the trace, repeating it past its end as the main job does (default: all; in static mode they form one batch)" };
        var synthetic = new Option<int?>("--synthetic-requests") { Description = "Replay K synthetic requests drawn from the trace's length distribution" };
        var seed = CommonOptions.Seed("--synthetic-requests and of the seed-compatible block choice");
        var blockSize = CommonOptions.BlockSize();
        var mode = new Option<string>("--mode") { Description = "static (all start together, the seed's experiment) or continuous (waiting queue, preemption)", DefaultValueFactory = _ => "static" };
        var seedCompat = new Option<bool>("--seed-compat") { Description = "Paged exactly as the seed: pool of (8192 / block size) × 5 blocks, random blocks, finished requests keep one block" };
        var json = CommonOptions.Json();
        var plot = CommonOptions.Plot("KV memory over time, naive against paged (with --sweep: the sweep)");
        var maxSeqLen = new Option<int?>("--max-seq-len") { Description = "Cap the context below the model's own (as vLLM's max_model_len): the naive reservation per request and the paged block table's width" };
        var prefixCaching = new Option<bool>("--prefix-caching") { Description = "Automatic prefix caching (continuous mode; the trace must hold prompt_ids, e.g. from trace --multi-turn): report the hit rate and prefill saved" };
        var prefill = new Option<string>("--prefill")
        {
            Description = "Static mode's prefill passes, as the main job runs them: by-length (one pass a prompt length) or ragged (prompts of every length share passes of up to 8,192 tokens)",
            DefaultValueFactory = _ => "by-length",
        };
        prefill.AcceptOnlyFromAmong(RunSettings.PrefillValues);
        var sweep = new Option<string?>("--sweep") { Description = "Across GPUs: gpu-mem=FROM:TO[:STEP] or gpu-mem=SIZE,SIZE,… (the --gpu chip with each memory size), or gpu=NAME,NAME,… / gpu=all: largest batch and tokens/s, naive vs paged; with --prefix-caching, the hit rate at each size", HelpName = "SPEC" };

        var command = new Command("simulate", "Predict KV-cache fragmentation and the largest batch for a GPU, paged against naive, from a length trace");
        setup.AddTo(command);
        foreach (Option o in new Option[] { trace, requests, synthetic, seed, blockSize, mode, seedCompat, json, plot, maxSeqLen, prefixCaching, prefill, sweep }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string? jsonPath = parse.GetValue(json), plotPath = parse.GetValue(plot), tracePath = parse.GetValue(trace);
            OutputPath.Check("--json", jsonPath, allowStdout: true);
            OutputPath.Check("--plot", plotPath, ".png");
            MemoryModel memory = CapContext(setup.Resolve(parse), parse.GetValue(maxSeqLen));
            InputFile.Check("--trace", tracePath);
            Trace source = LoadTrace(tracePath, memory.Model.MaxSequenceLength);
            int randomSeed = parse.GetValue(seed);
            if (parse.GetValue(synthetic) is int k)
            {
                if (k <= 0 || k > MaxRequests) throw new UserError($"--synthetic-requests: request count must be 1 to {MaxRequests:N0}, got {k}");
                source = SyntheticTrace.Draw(source, k, randomSeed);
            }
            IReadOnlyList<TraceRequest> batch = Take(source, parse.GetValue(requests));
            SimulationMode simulationMode = parse.GetValue(mode)?.ToLowerInvariant() switch
            {
                "static" => SimulationMode.Static,
                "continuous" => SimulationMode.Continuous,
                var other => throw new UserError($"--mode: unknown mode \"{other}\"; known: static, continuous"),
            };
            bool caching = parse.GetValue(prefixCaching);
            bool ragged = parse.GetValue(prefill) == "ragged";
            var config = new SimulationConfig(memory, parse.GetValue(blockSize), simulationMode, parse.GetValue(seedCompat), SchedulerOptions.Default, randomSeed, caching, ragged);
            if (ragged && simulationMode != SimulationMode.Static) throw new UserError("--prefill: applies to --mode static only (continuous mode's scheduler packs its own steps)");
            if (caching && simulationMode != SimulationMode.Continuous) throw new UserError("--prefix-caching: applies to --mode continuous only");
            if (caching && batch.Any(r => r.PromptIds is null))
                throw new UserError($"--prefix-caching: the trace {source.Source} holds no prompt_ids (write one with trace --multi-turn){(parse.GetValue(synthetic) is null ? "" : "; --synthetic draws lengths only")}");
            string? sweepText = parse.GetValue(sweep);
            Validate(config);
            if (sweepText is not null && !caching)
                return Sweep(config, source, sweepText, parse.GetValue(setup.Gpu), jsonPath, plotPath);
            GpuSpec[] sweepGpus = sweepText is null ? [] : [.. SweepGpus(sweepText, parse.GetValue(setup.Gpu)).OrderBy(g => g.TotalMemoryBytes)];
            SimulationReport report = Guard(() => SimulationReport.Create(config, source, batch, keepTimeline: true));
            if (sweepGpus.Length > 0)
            {
                IReadOnlyList<PrefixCacheSweepPoint> points = new ProgressDisplay(ProgressDisplay.IsTerminal, Console.Error).Run(
                    $"prefix-cache sweep ({sweepGpus.Length} sizes)",
                    update => Guard(() => PrefixCacheSweep.Run(config, batch, source.ThinkSteps, sweepGpus, done => update($"{done}/{sweepGpus.Length} sizes"))));
                report = report with { PrefixSweep = points };
            }
            // With a prefix-cache sweep the plot is the hit rate over memory; else KV memory over time.
            if (plotPath is not null && sweepGpus.Length > 0) PrefixCacheReport.SavePlot(report, plotPath);
            else if (plotPath is not null) ReportPlot.Save(report, plotPath);
            // With --json - the JSON is the whole of stdout; with --json FILE the text report still prints.
            if (jsonPath is not null) JsonOutput.Write(jsonPath, ReportJson.Format(report), Console.Out);
            if (jsonPath != OutputPath.Stdout) Console.Out.Write(ReportText.Format(report) + PrefixCacheReport.Format(report));
            return 0;
        });
        return command;
    }

    /// <summary>The setup with the model's context capped at <paramref name="maxSeqLen"/> (null: the model's own).</summary>
    public static MemoryModel CapContext(MemoryModel memory, int? maxSeqLen)
    {
        if (maxSeqLen is not int cap) return memory;
        int context = memory.Model.MaxSequenceLength;
        if (cap <= 0 || cap > context)
            throw new UserError($"--max-seq-len: must be 1 to {context:N0} (the context of {memory.Model.Name}), got {cap}");
        return memory with { Model = memory.Model with { MaxSequenceLength = cap } };
    }

    /// <summary>The GPUs of a <c>--sweep</c> spec; a memory sweep keeps the --gpu chip (its time figures).</summary>
    private static IReadOnlyList<GpuSpec> SweepGpus(string sweepText, string? gpuName) =>
        SweepSpec.Parse(sweepText, gpuName is null ? null : GpuSpec.FindPreset(gpuName));

    /// <summary><c>--sweep</c>: the largest batches and their predicted speed across GPUs.</summary>
    private static int Sweep(SimulationConfig config, Trace trace, string sweepText, string? gpuName, string? jsonPath, string? plotPath)
    {
        IReadOnlyList<GpuSpec> gpus = SweepGpus(sweepText, gpuName);
        if (config.SeedCompatible) throw new UserError("--sweep: not with --seed-compat (its pool does not grow with memory)");
        IReadOnlyList<SweepPoint> points = Guard(() => new ProgressDisplay(ProgressDisplay.IsTerminal, Console.Error).Run("sweep", update =>
            GpuSweep.Run(config, trace, gpus, i => update($"{i + 1}/{gpus.Count} GPUs: {gpus[i].Name}"))));
        if (plotPath is not null) SweepPlot.Save(config, points, sweepText.TrimStart().StartsWith("gpu-mem", StringComparison.OrdinalIgnoreCase), plotPath);
        if (jsonPath is not null) JsonOutput.Write(jsonPath, SweepOutput.Json(config, trace.Source, points), Console.Out);
        if (jsonPath != OutputPath.Stdout) Console.Out.Write(SweepOutput.Text(config, trace.Source, points));
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

    /// <summary>Most requests one simulation replays (the trace repeats past its end).</summary>
    public const int MaxRequests = 10_000_000;

    /// <summary>The first <paramref name="count"/> requests (all when null), repeating the trace past its end as the
    /// main job does.</summary>
    public static IReadOnlyList<TraceRequest> Take(Trace trace, int? count, string option = "--requests")
    {
        if (count is not int n) return trace.Requests;
        if (n <= 0 || n > MaxRequests)
            throw new UserError($"{option}: request count must be 1 to {MaxRequests:N0}, got {n}");
        return Simulator.FirstRequests(trace, n);
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
