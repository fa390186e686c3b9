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
/// <c>serve-trace (--model DIR | --synthetic 8b|tiny) [--requests N|all] [--kv-budget SIZE | --blocks N] ...</c>: runs
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
        var model = new Option<string?>("--model") { Description = "Checkpoint directory (Meta or Hugging Face layout)." };
        var synthetic = new Option<string?>("--synthetic") { Description = "Seeded random weights instead of a checkpoint: 8b (Llama 3 8B shape) or tiny." };
        var trace = new Option<string?>("--trace") { Description = $"Trace file (pagedsim-trace/1 JSON); default fixtures/{SimulateCommand.DefaultTrace}." };
        var requests = new Option<string>("--requests") { Description = "The first N requests of the trace, or all.", DefaultValueFactory = _ => "all" };
        var kvBudget = new Option<string?>("--kv-budget") { Description = "KV cache memory (e.g. 2GiB, 300MB); the pool holds as many blocks as fit." };
        var blocks = new Option<int?>("--blocks") { Description = "Blocks in the pool (instead of --kv-budget). Default: enough for every request at its full length." };
        var blockSize = new Option<int>("--block-size") { Description = "Tokens per KV block.", DefaultValueFactory = _ => 16 };
        var maxRunning = new Option<int>("--max-running") { Description = "Most requests in the batch.", DefaultValueFactory = _ => SchedulerOptions.Default.MaxRunning };
        var samples = new Option<int>("--samples") { Description = "Parallel sampling: K completions per prompt sharing its blocks (compared with K independent copies).", DefaultValueFactory = _ => 1 };
        var temperature = new Option<double>("--temperature") { Description = "0 for greedy; above 0 samples.", DefaultValueFactory = _ => 0.0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling threshold (with --temperature).", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { Description = "Seed of the prompts' token ids, the sampling streams and --synthetic weights.", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = "cpu (float32) or cuda (bf16).", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var json = new Option<string?>("--json") { Description = "Write a JSON summary to this file." };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG timeline of running, waiting and blocks in use." };
        var attention = new Option<string>("--attention") { Description = "auto (on CUDA with the native library: flash-attn for block sizes that are multiples of 256, else the paged decode kernel; else reference), flash, paged or reference.", DefaultValueFactory = _ => "auto" };
        attention.AcceptOnlyFromAmong(AttentionChoice.Values);
        var kernels = new Option<string>("--kernels") { Description = "auto (fused native kernels, decode steps as CUDA graphs, on CUDA when the flash library has them; else eager), fused, fused-no-graphs or eager.", DefaultValueFactory = _ => "auto" };
        kernels.AcceptOnlyFromAmong(KernelsChoice.Values);
        var compareStatic = new Option<bool>("--compare-static") { Description = "Also run the requests as static batches at the same memory (waves that fit at full length) and compare throughput." };
        var command = new Command("serve-trace", "Serve a length trace with continuous batching (waiting queue, preemption by recompute) and compare with the simulator; or parallel sampling with shared prompt blocks.")
        {
            model, synthetic, trace, requests, kvBudget, blocks, blockSize, maxRunning, samples, temperature, topP, seed, device, json, plot, compareStatic, attention, kernels,
        };
        command.SetAction(parse => Run(new ServeTraceSettings(
            parse.GetValue(model), parse.GetValue(synthetic), parse.GetValue(trace), parse.GetValue(requests)!, parse.GetValue(kvBudget),
            parse.GetValue(blocks), parse.GetValue(blockSize), parse.GetValue(maxRunning), parse.GetValue(samples),
            new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(seed)),
            parse.GetValue(device)!, parse.GetValue(json), parse.GetValue(plot), parse.GetValue(compareStatic), parse.GetValue(attention)!,
            parse.GetValue(kernels)!), Console.Out));
        return command;
    }

    internal static int Run(ServeTraceSettings s, TextWriter console)
    {
        s.Validate();
        Trace source = SimulateCommand.LoadTrace(s.TracePath, MaxSequenceLength);
        IReadOnlyList<TraceRequest> lengths = SimulateCommand.Take(source, s.RequestCount);
        Device dev = s.Device == "cuda" ? CudaDevices.CudaOrFail() : CPU;
        (IAttentionBackend attention, string attentionNote) = AttentionChoice.Select(dev, s.Attention, s.BlockSize, naive: false);
        using var attentionScope = attention as IDisposable;
        ScalarType dtype = dev.type == DeviceType.CPU ? ScalarType.Float32 : ScalarType.BFloat16;
        (ILayerKernels kernels, string kernelsNote) = KernelsChoice.Select(dev, dtype, s.Kernels);
        attentionNote = $"{attentionNote}; {kernelsNote}";
        using Llama3 llama = LoadModel(s, dev, dtype, kernels);
        int elementBytes = llama.DType == ScalarType.Float32 ? 4 : 2;
        long blockBytes = 2L * llama.Config.Layers * llama.Config.KvHeads * llama.Config.HeadDim * elementBytes * s.BlockSize;
        int poolBlocks = PoolBlocks(s, lengths, blockBytes);
        var prompts = Prompts(lengths, llama.Config.VocabSize, s.Sampling.Seed);
        var options = new SchedulerOptions(MaxRunning: s.MaxRunning);
        var cacheOptions = new KvCacheOptions(poolBlocks, s.BlockSize, MaxSequenceLength);
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
            if (s.JsonPath is not null) AtomicFile.WriteAllText(s.JsonPath, ServeTraceOutput.SamplingJson(report));
            ServeTraceOutput.PrintSampling(console, report);
            return 0;
        }

        ContinuousPrediction prediction;
        try
        {
            prediction = ContinuousPrediction.Simulate(llama.Config, elementBytes, poolBlocks, s.BlockSize, MaxSequenceLength, options, lengths);
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
                return generator.Generate(serveRequests, s.Sampling);
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
        if (s.JsonPath is not null) AtomicFile.WriteAllText(s.JsonPath, ServeTraceOutput.Json(result));
        ServeTraceOutput.Print(console, result);
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

    private static Llama3 LoadModel(ServeTraceSettings s, Device dev, ScalarType dtype, ILayerKernels kernels)
    {
        if (s.Synthetic is string shape)
        {
            Llama3Config config = shape == "8b" ? SyntheticShapes.Llama3_8B : SyntheticShapes.Tiny;
            return new Llama3(config, SyntheticWeights.Create(config, dev, dtype, s.Sampling.Seed), dev, dtype, MaxSequenceLength, kernels);
        }
        try
        {
            return Llama3.Load(s.ModelDir!, dev, dtype, MaxSequenceLength, kernels);
        }
        catch (CheckpointException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
    }
}
