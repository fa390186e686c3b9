using System.CommandLine;
using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.Synthetic;
using PagedSim.Model.Tokenization;
using PagedSim.Runner.Output;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// The root command, <c>PagedSim N</c>: the seed's experiment for the first N ShareGPT requests. Prints the
/// simulator's prediction for this GPU, then runs Llama 3 (batched greedy generation, paged or naive cache) and
/// reports responses, fragmentation, KV use, speed and predicted vs measured peak memory. Without CUDA or weights it
/// prints the prediction and one line on what is missing (exit 0).
/// </summary>
internal static class RunCommand
{
    /// <summary>Environment variable naming the Llama 3 checkpoint directory.</summary>
    public const string ModelVariable = "LLAMA3_DIR";

    /// <summary>Checkpoint directory looked for in the current directory.</summary>
    public const string DefaultModelDir = "Meta-Llama-3-8B-Instruct";

    public static RootCommand Create(TextWriter? output = null, TextWriter? log = null, bool? interactive = null)
    {
        var count = new Argument<int>("N") { Description = "Requests to batch (the first N of the ShareGPT file)", DefaultValueFactory = _ => 49 };
        var setup = new SetupOptions("Checkpoint: a folder (Meta params.json + consolidated.NN.pth, or Hugging Face config.json + safetensors); "
            + "else $" + ModelVariable + ", else ./" + DefaultModelDir + ". With --synthetic or for the prediction alone: a model preset");
        var shareGpt = new Option<string?>("--sharegpt") { Description = "ShareGPT JSON file (default fixtures/sharegpt-filtered.json)" };
        var naive = new Option<bool>("--naive") { Description = "Contiguous cache of 8,192 tokens per request, pre-allocated (llama3-naive.py) instead of the paged cache" };
        var synthetic = new Option<bool>("--synthetic") { Description = "Seeded random weights of --model's shape (a preset, default llama3-8b, or tiny: dim 64, 2 layers, a quick CPU check), created on the device; each request stops at its recorded answer length" };
        var seed = CommonOptions.Seed("the synthetic weights");
        // auto without CUDA only predicts: an 8B model on a CPU takes hours (--device cpu runs it anyway).
        var device = CommonOptions.Device("CUDA when available, else only the prediction");
        var maxNew = new Option<int?>("--max-new-tokens") { Description = "Cap on new tokens per request (default: up to 8,192 tokens in all)" };
        var blockSize = CommonOptions.BlockSize();
        var attention = CommonOptions.Attention();
        var kernels = CommonOptions.Kernels();
        var json = CommonOptions.Json();
        var findMax = new Option<bool>("--find-max-batch") { Description = "Find the largest N that really runs on this GPU (bisection with short outputs), beside the simulator's prediction" };
        var noResponses = new Option<bool>("--no-responses") { Description = "Do not print the responses" };
        var prefill = new Option<string>("--prefill")
        {
            Description = "by-length (one pass a prompt length, as measured) or ragged (prompts of every length share passes of up to 8,192 tokens: the weights read once a pass; not yet measured on a GPU)",
            DefaultValueFactory = _ => "by-length",
        };
        prefill.AcceptOnlyFromAmong(RunSettings.PrefillValues);
        var command = new RootCommand(Cli.Description);
        command.Arguments.Add(count);
        setup.AddTo(command);
        foreach (Option o in new Option[] { shareGpt, naive, synthetic, seed, device, maxNew, blockSize, attention, kernels, prefill, json, findMax, noResponses })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            bool isSynthetic = parse.GetValue(synthetic);
            string shape = isSynthetic && parse.GetValue(setup.Model) is string m && m.Equals(SyntheticModels.Tiny, StringComparison.OrdinalIgnoreCase) ? SyntheticModels.Tiny : "preset";
            var settings = new RunSettings(parse.GetValue(count), parse.GetValue(shareGpt), parse.GetValue(naive), isSynthetic,
                shape, parse.GetValue(seed), parse.GetValue(device)!, parse.GetValue(maxNew), parse.GetValue(blockSize),
                parse.GetValue(attention)!, parse.GetValue(json), parse.GetValue(findMax), parse.GetValue(setup.Model), !parse.GetValue(noResponses),
                parse.GetValue(kernels)!, parse.GetValue(prefill)!);
            return Execute(settings, (spec, gpu) => setup.Resolve(parse, spec, gpu), output ?? Console.Out, log ?? Console.Error,
                interactive ?? (output is null && ProgressDisplay.IsTerminal));
        });
        return command;
    }

    internal static int Execute(RunSettings s, Func<ModelSpec?, GpuSpec?, MemoryModel> resolve, TextWriter console, TextWriter log, bool interactive)
    {
        Validate(s);

        // Where it would run, and with which weights.
        string? noCuda = null;
        Device? device = s.Device == "cpu" ? CPU : null;
        if (device is null)
        {
            noCuda = CudaMissing();
            if (noCuda is null) device = CUDA;
            else if (s.Device == "cuda") throw new UserError($"--device cuda: no CUDA device ({noCuda})", Cli.Failed);
        }
        string? checkpoint = s.Synthetic ? null : FindCheckpoint(s.ModelDir);
        Llama3Config? checkpointConfig = checkpoint is null ? null : CheckpointConfig.Read(checkpoint);

        // The setup the simulator predicts for: this GPU as the driver reports it, the checkpoint's shape if any.
        GpuSpec? gpu = null;
        string deviceName = device is null ? "no CUDA device" : "CPU";
        if (device?.type == DeviceType.CUDA && RunDeviceMemory.Query() is (_, long total))
        {
            deviceName = RunDeviceMemory.Name() ?? "CUDA device 0";
            // A known chip brings its time figures (measured or datasheet-scaled) along with the memory the driver reports.
            gpu = GpuSpec.MatchDevice(deviceName) is GpuSpec chip
                ? chip with { Name = deviceName, TotalMemoryBytes = total, Note = $"as the device reports it (cuMemGetInfo); time figures of {chip.Name}" }
                : new GpuSpec(deviceName, total, "as the device reports it (cuMemGetInfo)");
        }
        ModelSpec? spec = checkpointConfig is null ? (s.SyntheticShape == "tiny" ? Spec(SyntheticShapes.Tiny, "synthetic-tiny") : null)
            : Spec(checkpointConfig, Path.GetFileName(Path.GetFullPath(checkpoint!).TrimEnd('/')));
        // The run's context is the seed's 8192 (RunSettings), also for a Llama 3.1+ preset, so the prediction matches it.
        MemoryModel resolved = resolve(spec, gpu);
        MemoryModel memory = SimulateCommand.CapContext(resolved, Math.Min(RunSettings.MaxSequenceLength, resolved.Model.MaxSequenceLength));
        Llama3Config? syntheticShape = !s.Synthetic ? null : s.SyntheticShape == "tiny" ? SyntheticShapes.Tiny : SyntheticModels.FromSpec(memory.Model);

        bool runs = device is not null && (s.Synthetic || checkpoint is not null);
        Llama3Tokenizer? tokenizer = runs || s.ShareGpt is not null ? LoadTokenizer(checkpoint) : null;
        Llama3Config? runConfig = checkpointConfig ?? syntheticShape;
        if (runs && tokenizer is not null && runConfig is not null && runConfig.VocabSize < tokenizer.VocabSize)
            throw new UserError($"--model: {(checkpoint ?? "the synthetic shape")} has a vocabulary of {runConfig.VocabSize:N0} ids, but the Llama 3 tokenizer's prompts use ids up to {tokenizer.VocabSize - 1:N0}: this model was not trained with Llama 3's tokenizer (use generate --prompt-ids for such checkpoints)");
        if (runs && runConfig is not null) MemoryGuard.CheckWeights(runConfig, device!, $"N = {s.Count}");
        RunRequests? requests = tokenizer is null ? null
            : RunRequests.Load(s.ShareGpt ?? Fixtures.Path("sharegpt-filtered.json"), tokenizer, s.Count);
        int[]? maxNew = requests?.MaxNewTokens(s.Synthetic, s.MaxNewTokens);
        Trace trace = requests?.Trace ?? SimulateCommand.LoadTrace(null, memory.Model.MaxSequenceLength);
        IReadOnlyList<TraceRequest> planned = requests is null ? Simulator.FirstRequests(trace, s.Count) : requests.Planned(maxNew!, s.Synthetic);
        if (s.MaxNewTokens is int cap && requests is null)
            planned = [.. planned.Select(r => r.OutputTokens > cap ? r with { OutputTokens = cap } : r)];
        var prediction = RunPrediction.Create(memory, s.BlockSize, trace, planned, s.RaggedPrefill);
        prediction.Write(console);

        if (!runs)
        {
            console.WriteLine(Missing(noCuda, checkpoint is null && !s.Synthetic));
            if (s.JsonPath is not null) JsonOutput.Write(s.JsonPath, RunJsonPredictionOnly(s, prediction), console);
            return 0;
        }
        if (memory.TensorParallel > 1)
        {
            // The prediction above is per GPU; the run itself is not tensor-parallel yet (generate --tp N is).
            console.WriteLine($"GPU run: not run: --tp {memory.TensorParallel} is not yet wired into the main job (generate --tp N runs a checkpoint tensor-parallel; docs/tensor-parallel.md)");
            if (s.JsonPath is not null) AtomicFile.WriteAllText(s.JsonPath, RunJsonPredictionOnly(s, prediction));
            return 0;
        }
        if (s.FindMaxBatch)
            return RunMaxBatch.Execute(s, device!, syntheticShape, checkpoint, tokenizer!, memory, prediction, deviceName, console, log);

        string modelName = syntheticShape is not null ? $"synthetic {(s.SyntheticShape == "tiny" ? "tiny" : memory.Model.Name)} weights (seed {s.Seed})" : checkpoint!;
        long predictedPeak = prediction.NeededBytes(s.Naive, planned);
        RunSession session;
        try
        {
            session = RunSession.Open(device!, syntheticShape, s.Seed, checkpoint, s.Attention, s.BlockSize, s.Naive, s.Kernels);
        }
        catch (Exception e) when (RunOutOfMemory.Is(e))
        {
            throw RunOutOfMemory.Describe(e, "creating the weights", predictedPeak);
        }
        RunReport report;
        using (session)
        {
            console.WriteLine(session.AttentionNote);
            string phase = "starting";
            RunOutcome outcome;
            int? poolCap = session.OnCuda
                ? PoolCap(memory, s.BlockSize, planned, RuntimeOverhead.H200.RunBytes(memory.Model, MemoryModel.DTypes[memory.DType], planned,
                    s.Naive ? null : s.BlockSize, session.ReferencePrompts, session.ReferenceDecode, raggedPrefill: s.RaggedPrefill,
                    raggedInLayerLoop: session.RaggedInLayerLoop(s.Naive, s.BlockSize)))
                : null;
            try
            {
                outcome = new ProgressDisplay(interactive, log).Run($"{s.Cache} N={s.Count}", update =>
                    session.Generate(requests!.Prompts, maxNew!, s.Synthetic ? null : tokenizer!.StopTokens, s.Naive, s.BlockSize, poolCap, update, p => phase = p,
                        prefill: s.RaggedPrefill ? PrefillMode.Ragged : PrefillMode.Whole));
            }
            catch (Exception e) when (RunOutOfMemory.Is(e) || e is PagedSim.Allocator.OutOfBlocksException)
            {
                throw RunOutOfMemory.Describe(e, phase, predictedPeak);
            }
            report = new RunReport(s, deviceName, memory.Gpu.TotalMemoryBytes, modelName, session.AttentionNote, requests!, outcome, prediction, tokenizer!,
                session.OnCuda ? prediction.RunnerPeakBytes(s.Naive, planned, poolCap, session.ReferencePrompts, session.ReferenceDecode,
                    session.RaggedInLayerLoop(s.Naive, s.BlockSize)) : null);
        }
        if (s.JsonPath is not null) JsonOutput.Write(s.JsonPath, report.Json(), console);
        if (s.PrintResponses) report.WriteResponses(console);
        report.WriteSummary(console);
        return 0;
    }

    /// <summary>Blocks that fit in the memory free now beside this batch's overhead: the simulator's generic model, or
    /// the runner's own (<paramref name="runnerOverheadBytes"/>) where that is larger (e.g. ragged prefill passes of
    /// 8,192 tokens, or the reference attention's tensors).</summary>
    internal static int? PoolCap(MemoryModel memory, int blockSize, IReadOnlyList<TraceRequest> planned, long runnerOverheadBytes = 0)
    {
        if (RunDeviceMemory.Query() is not (long free, _)) return null;
        (long tokens, long sequences) = Simulator.StepShape(new SimulationConfig(memory, blockSize), planned);
        long budget = free - Math.Max(memory.OverheadBytes(tokens, sequences), runnerOverheadBytes);
        return (int)Math.Clamp(budget / memory.Layout.BytesPerBlock(blockSize), 0, int.MaxValue / 2);
    }

    private static void Validate(RunSettings s)
    {
        if (s.Count <= 0) throw new UserError($"N: request count must be positive, got {s.Count}");
        if (s.BlockSize <= 0 || s.BlockSize > RunSettings.MaxSequenceLength)
            throw new UserError($"--block-size: must be 1 to {RunSettings.MaxSequenceLength}, got {s.BlockSize}");
        if (s.MaxNewTokens is int m && m <= 0) throw new UserError($"--max-new-tokens: must be positive, got {m}");
        if (s.Device is not ("auto" or "cuda" or "cpu")) throw new UserError($"--device: unknown device \"{s.Device}\"; known: auto, cuda, cpu");
        if (!AttentionChoice.Values.Contains(s.Attention)) throw new UserError($"--attention: unknown backend \"{s.Attention}\"; known: {string.Join(", ", AttentionChoice.Values)}");
        if (!KernelsChoice.Values.Contains(s.Kernels)) throw new UserError($"--kernels: unknown kernels \"{s.Kernels}\"; known: {string.Join(", ", KernelsChoice.Values)}");
        InputFile.Check("--sharegpt", s.ShareGpt);
        OutputPath.Check("--json", s.JsonPath, allowStdout: true);
        if (s.JsonPath == OutputPath.Stdout && s.PrintResponses)
            throw new UserError("--json -: the JSON would mix with the responses on stdout; add --no-responses or give a file");
        if (s.Synthetic && s.ModelDir is not null && s.SyntheticShape != SyntheticModels.Tiny && ModelSpec.FindPreset(s.ModelDir) is null)
            throw new UserError($"--model: with --synthetic, give a shape: {SyntheticModels.Known} (\"{s.ModelDir}\" is none)");
        if (s.ModelDir is not null && !s.Synthetic && ModelSpec.FindPreset(s.ModelDir) is null && !Directory.Exists(s.ModelDir) && !File.Exists(s.ModelDir))
            throw new UserError($"--model: \"{s.ModelDir}\" is neither a checkpoint folder nor a known model ({string.Join(", ", ModelSpec.Presets.Select(m => m.Name))})");
    }

    private static string? CudaMissing()
    {
        try
        {
            return torch.cuda.is_available() ? null : "torch.cuda.is_available() is false: no NVIDIA GPU, or a CPU-only libtorch";
        }
        catch (Exception e)
        {
            return $"libtorch could not be loaded: {e.Message.Split('\n')[0]}";
        }
    }

    private static string Missing(string? noCuda, bool noWeights)
    {
        const string Weights = "no Llama 3 weights (--model DIR, $" + ModelVariable + " or ./" + DefaultModelDir + ")";
        const string GetWeights = "download Meta-Llama-3-8B-Instruct (Meta's original/ or the Hugging Face layout) or pass --synthetic for seeded random weights of its shape";
        const string GetCuda = "run on an NVIDIA GPU with TorchSharp-cuda-linux (build with -p:TorchBackend=cuda) and the flash-attn library (docs/flash-attn.md)";
        if (noCuda is not null && noWeights) return $"GPU run: not run: no CUDA device ({noCuda}) and {Weights}; {GetCuda}, and {GetWeights}.";
        if (noCuda is not null) return $"GPU run: not run: no CUDA device ({noCuda}); {GetCuda}, or pass --device cpu (slow; --synthetic --model tiny for a quick check).";
        return $"GPU run: not run: {Weights}; {GetWeights}.";
    }

    /// <summary>--model DIR, else $LLAMA3_DIR, else ./Meta-Llama-3-8B-Instruct; each as given or its original/ (Meta's files in Hugging Face's repo).</summary>
    internal static string? FindCheckpoint(string? modelOption)
    {
        if (modelOption is not null && Checkpoint.IsGguf(modelOption)) return modelOption;
        string? given = modelOption is not null && Directory.Exists(modelOption) ? modelOption
            : modelOption is not null && File.Exists(modelOption) ? Path.GetDirectoryName(Path.GetFullPath(modelOption))
            : null;
        string? env = Environment.GetEnvironmentVariable(ModelVariable);
        foreach (string? dir in new[] { given, string.IsNullOrEmpty(env) ? null : env, DefaultModelDir })
        {
            if (dir is null || !Directory.Exists(dir)) continue;
            foreach (string candidate in new[] { dir, Path.Combine(dir, "original") })
                if (File.Exists(Path.Combine(candidate, "params.json")) || File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
            if (dir == given) throw new UserError($"--model: {dir} holds neither params.json (Meta layout) nor config.json (Hugging Face layout), nor original/params.json");
        }
        return null;
    }

    private static Llama3Tokenizer LoadTokenizer(string? checkpoint)
    {
        // Meta's checkpoints carry tokenizer.model (Hugging Face's keep it in original/); every Llama 3 model shares
        // the tokenizer of fixtures/llama3.
        if (checkpoint is not null && Checkpoint.IsGguf(checkpoint))
        {
            try
            {
                // A Llama 3 GGUF carries Llama 3's vocabulary; any other falls back to fixtures/llama3 below.
                if (GgufTokenizer.Load(checkpoint).Llama3 is Llama3Tokenizer own) return own;
            }
            catch (Exception e) when (e is TokenizerLoadException or CheckpointException)
            {
                throw new UserError(e.Message, Cli.BadInput, e);
            }
        }
        string? path = checkpoint is null ? null
            : new[] { Path.Combine(checkpoint, "tokenizer.model"), Path.Combine(checkpoint, "original", "tokenizer.model") }.FirstOrDefault(File.Exists);
        path ??= Fixtures.Path("llama3/tokenizer.model");
        try
        {
            return Llama3Tokenizer.Load(path);
        }
        catch (TokenizerLoadException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
    }

    /// <summary>The simulator's spec of a checkpoint's shape (multiple_of = hidden and a multiplier that lands on it).</summary>
    private static ModelSpec Spec(Llama3Config c, string name) =>
        new(name, c.Dim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.HiddenDim, c.HiddenDim / (double)(int)(8.0 * c.Dim / 3), c.TiedEmbeddings);

    private static string RunJsonPredictionOnly(RunSettings s, RunPrediction p) =>
        JsonOutput.Serialize(new Dictionary<string, object?>
        {
            ["format"] = "pagedsim-run/1",
            ["cache"] = s.Cache,
            ["requests"] = s.Count,
            ["run"] = null,
            ["memory"] = new Dictionary<string, object?>
            {
                ["gpu"] = p.Memory.Gpu.Name,
                ["predictedFits"] = p.For(s.Naive).Fits,
                ["predictedPeakBytes"] = p.PeakMemory(s.Naive),
                ["predictedMaxBatch"] = p.MaxFor(s.Naive).MaxBatch,
            },
        });
}
