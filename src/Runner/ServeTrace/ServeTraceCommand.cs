using System.CommandLine;
using System.Globalization;
using PagedSim.Allocator;
using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Kernels;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Model.Synthetic;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// <c>serve-trace (--model DIR | --synthetic [--model PRESET|tiny]) [--requests N|all] [--kv-budget SIZE | --blocks N] ...</c>: runs
/// a length trace through the model with continuous batching (the allocator's <see cref="Scheduler"/>: waiting queue,
/// admission, preemption by recompute), reports per-request latencies, throughput, preemptions and peak blocks, and
/// compares them with the simulator's continuous-mode prediction for the same lengths and pool. With
/// <c>--samples K</c> it runs parallel sampling instead: K completions per prompt sharing the prompt's blocks, against
/// K independent copies.
/// </summary>
internal static class ServeTraceCommand
{
    /// <summary>The manager's max sequence length (the simulator's, and the RoPE table's).</summary>
    public const int MaxSequenceLength = 8192;

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Checkpoint: a folder (Meta or Hugging Face layout) or a .gguf file; with --synthetic, the shape: a preset (default llama3-8b) or tiny." };
        var synthetic = CommonOptions.Synthetic();
        var trace = new Option<string?>("--trace") { Description = $"Trace file (pagedsim-trace/1 JSON); default fixtures/{SimulateCommand.DefaultTrace}." };
        var requests = new Option<string>("--requests") { Description = "The first N requests of the trace (repeating it past its end), or all.", DefaultValueFactory = _ => "all" };
        var kvBudget = new Option<string?>("--kv-budget") { Description = "KV cache memory (e.g. 2GiB, 300MB); the pool holds as many blocks as fit." };
        var blocks = new Option<int?>("--blocks") { Description = "Blocks in the pool (instead of --kv-budget). Default: enough for every request at its full length." };
        var blockSize = CommonOptions.BlockSize();
        var maxRunning = new Option<int>("--max-running") { Description = "Most requests in the batch.", DefaultValueFactory = _ => SchedulerOptions.Default.MaxRunning };
        var samples = new Option<int>("--samples") { Description = "Parallel sampling: K completions per prompt sharing its blocks (compared with K independent copies).", DefaultValueFactory = _ => 1 };
        var temperature = CommonOptions.Temperature();
        var topP = CommonOptions.TopP();
        var seed = CommonOptions.Seed("the prompts' token ids, the sampling streams and --synthetic weights");
        var device = CommonOptions.Device("CUDA in bf16 when available, else the CPU in float32");
        var json = CommonOptions.Json();
        var plot = CommonOptions.Plot("running, waiting and blocks in use over the run");
        var attention = CommonOptions.Attention();
        var kernels = CommonOptions.Kernels();
        var prefixCaching = new Option<bool>("--prefix-caching") { Description = "Automatic prefix caching: cached full blocks of earlier prompts are reused, their K/V not recomputed (the trace must hold prompt_ids, e.g. from trace --multi-turn)." };
        var compareStatic = new Option<bool>("--compare-static") { Description = "Also run the requests as static batches at the same memory (waves that fit at full length) and compare throughput." };
        var command = new Command("serve-trace", "Serve a length trace with continuous batching (waiting queue, preemption by recompute) and compare with the simulator; or parallel sampling with shared prompt blocks.")
        {
            model, synthetic, trace, requests, kvBudget, blocks, blockSize, maxRunning, samples, temperature, topP, seed, device, json, plot, compareStatic, attention, kernels, prefixCaching,
        };
        Option<int> tp = TensorParallelNotYet.AddTo(command);
        command.SetAction(parse => TensorParallelNotYet.Check(parse.GetValue(tp), "serve-trace") + Run(new ServeTraceSettings(
            parse.GetValue(model), parse.GetValue(synthetic), parse.GetValue(trace), parse.GetValue(requests)!, parse.GetValue(kvBudget),
            parse.GetValue(blocks), parse.GetValue(blockSize), parse.GetValue(maxRunning), parse.GetValue(samples),
            new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(seed)),
            parse.GetValue(device)!, parse.GetValue(json), parse.GetValue(plot), parse.GetValue(compareStatic), parse.GetValue(attention)!,
            parse.GetValue(kernels)!, parse.GetValue(prefixCaching)), Console.Out));
        return command;
    }

    internal static int Run(ServeTraceSettings s, TextWriter console)
    {
        s.Validate();
        Trace source = SimulateCommand.LoadTrace(s.TracePath, MaxSequenceLength);
        IReadOnlyList<TraceRequest> lengths = SimulateCommand.Take(source, s.RequestCount);
        bool tracedIds = lengths.All(r => r.PromptIds is not null);
        if (s.PrefixCaching && !tracedIds)
            throw new UserError($"--prefix-caching: the trace {source.Source} holds no prompt_ids (write one with trace --multi-turn)");
        if (s.PrefixCaching && s.Samples > 1) throw new UserError("--prefix-caching: applies to continuous batching, not to --samples");
        Device dev = CudaDevices.Resolve(s.Device);
        // The shape first: the attention choice and the memory check need it before any weight exists.
        Llama3Config shape = s.Synthetic ? SyntheticModels.Config(s.Model ?? "llama3-8b") : CheckpointConfig.Read(s.Model!);
        (IAttentionBackend attention, string attentionNote) = AttentionChoice.Select(dev, s.Attention, s.BlockSize, naive: false, shape.HeadDim);
        using var attentionScope = attention as IDisposable;
        ScalarType dtype = dev.type == DeviceType.CPU ? ScalarType.Float32 : ScalarType.BFloat16;
        (ILayerKernels kernels, string kernelsNote) = KernelsChoice.Select(dev, dtype, s.Kernels);
        attentionNote = $"{attentionNote}; {kernelsNote}";
        using Llama3 llama = LoadModel(s, shape, dev, dtype, kernels);
        int elementBytes = llama.DType == ScalarType.Float32 ? 4 : 2;
        long blockBytes = 2L * llama.Config.Layers * llama.Config.KvHeads * llama.Config.HeadDim * elementBytes * s.BlockSize;
        int poolBlocks = PoolBlocks(s, lengths, blockBytes);
        var prompts = tracedIds ? TracedPrompts(lengths, llama.Config.VocabSize) : Prompts(lengths, llama.Config.VocabSize, s.Sampling.Seed);
        if (tracedIds) lengths = lengths.Select((r, i) => r with { PromptIds = prompts[i] }).ToArray(); // the ids the model sees
        int[] after = TraceArrivals.Predecessors(lengths, source.ThinkSteps);
        var options = new SchedulerOptions(MaxRunning: s.MaxRunning);
        var cacheOptions = new KvCacheOptions(poolBlocks, s.BlockSize, MaxSequenceLength, PrefixCaching: s.PrefixCaching);
        var setup = new ServeTraceSetup(s, source.Source, lengths, llama, elementBytes, poolBlocks, blockBytes);

        if (s.Samples > 1)
        {
            var share = ParallelSamplingPrediction.Simulate(cacheOptions, s.Samples, true, lengths.Select(r => (r.PromptTokens, r.OutputTokens)).ToArray());
            var copies = ParallelSamplingPrediction.Simulate(cacheOptions, s.Samples, false, lengths.Select(r => (r.PromptTokens, r.OutputTokens)).ToArray());
            console.WriteLine(attentionNote);
            // The first run in a process pays what later ones do not (kernels loaded on first use, JIT, the allocator's
            // first allocations): with the shared run first it took 10.61 s against the independent run's 9.69 s on an
            // H200. An untimed run of up to WarmUpTokens answer tokens a sample first, so both timed runs start warm.
            _ = Sample(llama, attention, cacheOptions, prompts, [.. lengths.Select(r => r with { OutputTokens = Math.Min(r.OutputTokens, WarmUpTokens) })], s, share: true);
            ParallelSamplingRun independent = Sample(llama, attention, cacheOptions, prompts, lengths, s, share: false);
            ParallelSamplingRun forked = Sample(llama, attention, cacheOptions, prompts, lengths, s, share: true);
            var report = new ServeTraceSamplingReport(setup, forked, independent, share, copies);
            if (s.PlotPath is not null) ServeTracePlot.SaveSampling(report, s.PlotPath);
            if (s.JsonPath is not null) JsonOutput.Write(s.JsonPath, ServeTraceOutput.SamplingJson(report), console);
            if (s.JsonPath != OutputPath.Stdout) ServeTraceOutput.PrintSampling(console, report);
            return 0;
        }

        ContinuousPrediction prediction;
        try
        {
            // On a known GPU the prediction carries time (the simulator's time model) beside steps and blocks.
            GpuSpec? chip = dev.type == DeviceType.CUDA && RunDeviceMemory.Name() is string name ? GpuSpec.MatchDevice(name) : null;
            prediction = ContinuousPrediction.Simulate(llama.Config, elementBytes, poolBlocks, s.BlockSize, MaxSequenceLength, options, lengths,
                s.PrefixCaching, source.ThinkSteps, chip);
        }
        catch (ArgumentException e)
        {
            throw new UserError(e.Message.Split(" (Parameter")[0]);
        }
        if (prediction.Simulation.Reason == LimitReason.RequestTooLarge)
            throw new UserError($"{(s.KvBudget is not null ? "--kv-budget" : "--blocks")}: {prediction.Simulation.Failure}");
        ContinuousRun run;
        GenerationRequest[] serveRequests = prompts.Select((p, i) => new GenerationRequest(p, lengths[i].OutputTokens)).ToArray();
        console.WriteLine(attentionNote);
        using (var cache = new PagedKvCache(llama.Config, cacheOptions, dev, llama.DType))
        {
            var generator = new ContinuousBatchGenerator(llama, cache, attention, options);
            // Progress on long runs: a live line on a terminal, a plain line on stderr every few seconds otherwise.
            run = new ProgressDisplay(ProgressDisplay.IsTerminal, Console.Error).Run($"serve-trace ({lengths.Count} requests)", update =>
            {
                generator.StepCompleted = p => update(
                    $"step {p.Step}: {p.Running} running, {p.Waiting} waiting, {p.UsedBlocks}/{poolBlocks} blocks in use, {p.Seconds:F0} s");
                return generator.Generate(serveRequests, s.Sampling, after, source.ThinkSteps ?? 0);
            });
        }
        ContinuousStaticBaseline? baseline = null;
        if (s.CompareStatic)
        {
            using var cache = new PagedKvCache(llama.Config, cacheOptions, dev, llama.DType);
            baseline = ContinuousStaticBaseline.Run(llama, cache, attention, serveRequests, s.MaxRunning, s.Sampling);
        }
        var result = new ServeTraceReport(setup, run, prediction, baseline);
        if (s.PlotPath is not null) ServeTracePlot.Save(result, s.PlotPath);
        if (s.JsonPath is not null) JsonOutput.Write(s.JsonPath, ServeTraceOutput.Json(result), console);
        if (s.JsonPath != OutputPath.Stdout) ServeTraceOutput.Print(console, result);
        return 0;
    }

    private const int WarmUpTokens = 32;

    private static ParallelSamplingRun Sample(Llama3 llama, IAttentionBackend attention, KvCacheOptions cacheOptions, IReadOnlyList<int[]> prompts, IReadOnlyList<TraceRequest> lengths, ServeTraceSettings s, bool share)
    {
        using var cache = new PagedKvCache(llama.Config, cacheOptions, llama.Device, llama.DType);
        var requests = prompts.Select((p, i) => new GenerationRequest(p, lengths[i].OutputTokens)).ToArray();
        try
        {
            return new ParallelSampler(llama, cache, attention).Generate(requests, s.Samples, s.Sampling, share);
        }
        catch (RequestTooLargeException e)
        {
            throw new UserError($"{(s.KvBudget is not null ? "--kv-budget" : "--blocks")}: prompt {e.Request} with {s.Samples} samples needs more blocks than the pool's {cacheOptions.NumBlocks} ({e.Message})");
        }
    }

    /// <summary>The trace's prompt ids, folded into the model's vocabulary (id mod vocab, for small test models):
    /// equal ids stay equal, so shared prefixes stay shared.</summary>
    internal static int[][] TracedPrompts(IReadOnlyList<TraceRequest> requests, int vocab) =>
        requests.Select(r => r.PromptIds!.Select(id => id % vocab).ToArray()).ToArray();

    /// <summary>Seeded random prompt ids of each request's length (the trace holds lengths only).</summary>
    internal static int[][] Prompts(IReadOnlyList<TraceRequest> lengths, int vocab, int seed)
    {
        var prompts = new int[lengths.Count][];
        for (int i = 0; i < lengths.Count; i++)
        {
            var random = new Random(unchecked(seed * 7919 + i));
            prompts[i] = Enumerable.Range(0, lengths[i].PromptTokens).Select(_ => random.Next(vocab)).ToArray();
        }
        return prompts;
    }

    private static int PoolBlocks(ServeTraceSettings s, IReadOnlyList<TraceRequest> lengths, long blockBytes)
    {
        if (s.Blocks is int n) return n;
        if (s.KvBudget is string budget)
        {
            long bytes = Output.SetupOptions.ParseSize("--kv-budget", budget);
            long fit = bytes / blockBytes;
            if (fit <= 0) throw new UserError($"--kv-budget: {budget} holds no block of {blockBytes:N0} bytes ({s.BlockSize} tokens)");
            return (int)Math.Min(fit, Simulator.MaxBlocks);
        }
        // Room for every request (every sample) at its full length: nothing waits for blocks.
        return (int)Math.Min(Simulator.MaxBlocks, lengths.Sum(r => (long)s.Samples * ((r.TotalTokens + s.BlockSize) / s.BlockSize)));
    }

    private static Llama3 LoadModel(ServeTraceSettings s, Llama3Config config, Device dev, ScalarType dtype, ILayerKernels kernels)
    {
        MemoryGuard.CheckWeights(config, dev, "serve-trace");
        if (s.Synthetic)
            return new Llama3(config, SyntheticWeights.Create(config, dev, dtype, s.Sampling.Seed), dev, dtype, MaxSequenceLength, kernels);
        try
        {
            return Llama3.Load(s.Model!, dev, dtype, MaxSequenceLength, kernels);
        }
        catch (CheckpointException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
    }
}
