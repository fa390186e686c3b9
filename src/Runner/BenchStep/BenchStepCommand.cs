using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PagedSim.Allocator;
using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Kernels;
using PagedSim.Model.KvCache;
using PagedSim.Model.Synthetic;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// <c>bench-step</c>: the decode step alone, on synthetic weights and a paged cache of B sequences of a given
/// context: its latency as generation sees it (host prepares the step, queues the forward, waits for the ids), the
/// CPU time to queue it, and its time when steps are queued back to back (the GPU's own time when the CPU keeps
/// ahead), against the memory-bandwidth roofline of the weights and KV bytes it reads.
/// </summary>
internal static class BenchStepCommand
{
    public static Command Create()
    {
        var batches = new Option<string>("--batch") { Description = "Batch sizes, comma-separated.", DefaultValueFactory = _ => "1,8,49" };
        var context = new Option<string>("--context") { Description = "Tokens already in each sequence's cache, comma-separated (two or more separate bandwidth from per-sequence costs in the time model's calibration).", DefaultValueFactory = _ => "512" };
        var steps = new Option<int>("--steps") { Description = "Timed steps per measurement (after 5 warm-up steps).", DefaultValueFactory = _ => 50 };
        var device = CommonOptions.Device();
        var model = new Option<string?>("--model") { Description = $"Shape of the synthetic weights: {SyntheticModels.Known} (default: llama3-8b on CUDA, tiny on the CPU)." };
        var kernels = CommonOptions.Kernels();
        var attention = CommonOptions.Attention();
        var blockSize = CommonOptions.BlockSize();
        var bandwidth = new Option<double?>("--peak-bandwidth") { Description = "Memory bandwidth of the roofline, TB/s (default: the GPU preset matching the device's name, e.g. 4.8 on an H200; none on the CPU)." };
        var json = CommonOptions.Json();
        var prefillPasses = new Option<string?>("--prefill-passes")
        {
            Description = "Instead of decode steps: prefill passes of B prompts of L tokens, comma-separated BxL (e.g. 1x512,8x512,1x8192); --steps timed passes each: ms a pass, its FLOPs and the matrix rate",
            HelpName = "BxL,...",
        };
        var command = new Command("bench-step", "Benchmark one decode step (synthetic weights, paged cache): latency, CPU queue time, GPU-bound time, roofline; or prefill passes of given sizes.")
        {
            batches, context, steps, device, model, kernels, attention, blockSize, bandwidth, json, prefillPasses,
        };
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel ranks: CPU threads, or one GPU each over NCCL (eager kernels on every rank; docs/tensor-parallel.md).", DefaultValueFactory = _ => 1 };
        command.Options.Add(tp);
        command.SetAction(parse => Run(parse.GetValue(batches)!, parse.GetValue(context)!, parse.GetValue(steps), parse.GetValue(device)!,
            parse.GetValue(model), parse.GetValue(kernels)!, parse.GetValue(attention)!, parse.GetValue(bandwidth), parse.GetValue(json), Console.Out,
            parse.GetValue(blockSize), parse.GetValue(tp), parse.GetValue(prefillPasses)));
        return command;
    }

    internal static int Run(string batchList, int context, int steps, string deviceChoice, string? shape, string kernelsChoice,
        string attentionChoice, double? peakTbPerSecond, string? jsonPath, TextWriter console, int blockSize = CommonOptions.DefaultBlockSize, int tp = 1) =>
        Run(batchList, context.ToString(CultureInfo.InvariantCulture), steps, deviceChoice, shape, kernelsChoice, attentionChoice, peakTbPerSecond, jsonPath, console, blockSize, tp);

    internal static int Run(string batchList, string contextList, int steps, string deviceChoice, string? shape, string kernelsChoice,
        string attentionChoice, double? peakTbPerSecond, string? jsonPath, TextWriter console, int blockSize = CommonOptions.DefaultBlockSize, int tp = 1,
        string? prefillList = null)
    {
        if (tp < 1) throw new UserError($"--tp: must be positive, got {tp}");
        (int Prompts, int Tokens)[]? prefillPasses = prefillList is null ? null : BenchPrefill.Parse(prefillList);
        if (prefillPasses is not null && tp > 1) throw new UserError("--prefill-passes: measures one GPU's passes; drop --tp");
        int[] batches = ParseBatches(batchList);
        int[] contexts = ParseContexts(contextList);
        if (steps < 1) throw new UserError($"--steps: must be positive, got {steps}");
        // Each measurement appends warm-up + 2 × steps tokens to every sequence: all within the 8,192 positions.
        int longest = contexts.Max();
        if (longest + 6 + 2L * steps > 8192)
            throw new UserError($"--steps: {steps:N0} steps after a context of {longest:N0} run past 8,192 positions (context + 2 × steps + 6 must fit); use at most {(8192 - 6 - longest) / 2:N0}");
        if (peakTbPerSecond is <= 0) throw new UserError($"--peak-bandwidth: must be positive, got {peakTbPerSecond}");
        if (blockSize < 1 || blockSize > 8192) throw new UserError($"--block-size: must be 1 to 8,192 tokens, got {blockSize}");
        OutputPath.Check("--json", jsonPath, allowStdout: true);
        if (shape is not null) SyntheticModels.Config(shape);
        Device dev = CudaDevices.Resolve(deviceChoice);
        bool onCuda = dev.type == DeviceType.CUDA;
        shape ??= onCuda ? "llama3-8b" : SyntheticModels.Tiny;
        Llama3Config config = SyntheticModels.Config(shape);
        MemoryGuard.CheckWeights(config, dev, "bench-step");
        string deviceName = onCuda ? RunDeviceMemory.Name() ?? "CUDA device" : "CPU";
        // The roofline needs the device's bandwidth: a known GPU's preset, or the figure given; none for the CPU.
        peakTbPerSecond ??= onCuda ? GpuSpec.MatchDevice(deviceName)?.Performance?.MemoryBandwidth / 1e12 : null;
        ScalarType dtype = onCuda ? ScalarType.BFloat16 : ScalarType.Float32;
        (ILayerKernels layerKernels, string kernelsNote) = KernelsChoice.Select(dev, dtype, kernelsChoice);
        (IAttentionBackend attention, string attentionNote) = AttentionChoice.Select(dev, attentionChoice, blockSize, naive: false, config.HeadDim);
        using var attentionScope = attention as IDisposable;
        if (tp > 1 && PagedSim.Model.Parallel.ShardingPlan.WhyNot(config, tp) is string why) throw new UserError($"--tp {tp}: {why}");
        using var model = tp == 1 ? new Llama3(config, SyntheticWeights.Create(config, dev, dtype, seed: 0), dev, dtype, 8192, layerKernels)
            : BenchStepTensorParallel.Create(config, dev, dtype, tp, attentionChoice, blockSize, ref kernelsNote);
        console.WriteLine($"{deviceName}, synthetic {shape} weights ({dtype}), {attentionNote}; {kernelsNote}");
        if (prefillPasses is not null)
        {
            List<Dictionary<string, object?>> prefillRows = BenchPrefill.Run(model, attention, prefillPasses, steps, blockSize, console);
            if (jsonPath is not null)
                JsonOutput.Write(jsonPath, JsonOutput.Serialize(new Dictionary<string, object?>
                {
                    ["format"] = "pagedsim-bench-step/1", ["device"] = deviceName, ["shape"] = shape, ["dtype"] = dtype.ToString(),
                    ["attention"] = attention.Name, ["kernels"] = layerKernels.Name, ["prefillPasses"] = prefillRows,
                }), console);
            return 0;
        }

        int elementBytes = dtype == ScalarType.Float32 ? 4 : 2;
        long weightBytes = WeightBytesPerStep(model.Weights);
        long kvBytesPerToken = 2L * config.Layers * model.Config.KvHeads * config.HeadDim * elementBytes; // per GPU under --tp
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| batch | context | ms/step (sync, as generation) | CPU queue ms | ms/step (back to back) | GB read | TB/s | roofline ms{(peakTbPerSecond is double p ? $" at {p} TB/s" : " (no bandwidth known for this device; --peak-bandwidth)")} | × roofline |"));
        console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        var rows = new List<Dictionary<string, object?>>();
        var points = new List<Dictionary<string, object>>();
        foreach (int context in contexts)
        foreach (int batch in batches)
        {
            (double syncMs, double queueMs, double pipelinedMs) = Measure(model, attention, batch, context, steps, blockSize);
            long bytes = weightBytes + (long)batch * (context + 1) * kvBytesPerToken;
            double? rooflineMs = peakTbPerSecond is double peak ? bytes / (peak * 1e12) * 1e3 : null;
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {batch} | {context} | {syncMs:F2} | {queueMs:F2} | {pipelinedMs:F2} | {bytes / 1e9:F2} | {bytes / (pipelinedMs * 1e-3) / 1e12:F2} | {(rooflineMs is double r ? r.ToString("F2", CultureInfo.InvariantCulture) : "-")} | {(rooflineMs is double r2 ? (syncMs / r2).ToString("F2", CultureInfo.InvariantCulture) : "-")} |"));
            rows.Add(new Dictionary<string, object?>
            {
                ["batch"] = batch, ["context"] = context, ["syncMsPerStep"] = Math.Round(syncMs, 3), ["cpuQueueMs"] = Math.Round(queueMs, 3),
                ["backToBackMsPerStep"] = Math.Round(pipelinedMs, 3), ["bytesRead"] = bytes, ["rooflineMs"] = rooflineMs is double rm ? Math.Round(rm, 3) : null,
            });
            // Exactly what the time model's calibration reads (StepTimeCalibration.ReadDecodePoints).
            points.Add(new Dictionary<string, object> { ["batch"] = batch, ["context"] = context, ["seconds"] = pipelinedMs / 1e3 });
        }
        if (jsonPath is not null)
        {
            var doc = new Dictionary<string, object?>
            {
                ["format"] = "pagedsim-bench-step/1", ["device"] = deviceName, ["shape"] = shape, ["dtype"] = dtype.ToString(),
                ["attention"] = attention.Name, ["kernels"] = tp == 1 ? layerKernels.Name : "eager", ["tp"] = tp, ["peakBandwidthTBps"] = peakTbPerSecond, ["results"] = rows,
                ["calibration_points"] = points,
            };
            JsonOutput.Write(jsonPath, JsonOutput.Serialize(doc), console);
        }
        return 0;
    }

    /// <summary>Weights one decode step reads: every layer, the final norm and the output head (the embedding: one row per token).</summary>
    private static long WeightBytesPerStep(Llama3Weights w)
    {
        long bytes = w.Norm.NumberOfElements * w.Norm.ElementSize + w.Output.NumberOfElements * w.Output.ElementSize;
        foreach (LayerWeights l in w.Layers)
            foreach (Tensor t in new[] { l.AttentionNorm, l.Wqkv, l.Wo, l.FfnNorm, l.W13, l.W2 })
                bytes += t.NumberOfElements * t.ElementSize;
        return bytes;
    }

    private static (double SyncMs, double QueueMs, double PipelinedMs) Measure(Llama3 model, IAttentionBackend attention, int batch, int context, int steps, int blockSize)
    {
        const int warmup = 5;
        int blocksPerSequence = (context + warmup + 2 * steps + 1 + blockSize - 1) / blockSize;
        using IKvCache cache = model.NewPagedCache(new KvCacheOptions(batch * blocksPerSequence, blockSize, 8192));
        int[] sequences = [.. Enumerable.Range(0, batch).Select(_ => cache.Add(context))];
        using var scope = NewDisposeScope();
        Tensor tokens = zeros([batch, 1], ScalarType.Int64, model.Device);

        // As generation runs it: the host prepares the step, queues the forward, then waits for the chosen ids.
        double queue = 0, total = 0;
        for (int s = 0; s < warmup + steps; s++)
        {
            long start = Stopwatch.GetTimestamp();
            using var stepScope = NewDisposeScope();
            foreach (int q in sequences) cache.Append(q);
            KvStep step = cache.Prepare(sequences, 1, model.Device);
            Tensor ids = model.ForwardGreedy(tokens, cache, step, attention);
            double queued = Stopwatch.GetElapsedTime(start).TotalSeconds;
            _ = ids.cpu(); // the ids on the host: waits for the step
            if (s < warmup) continue;
            queue += queued;
            total += Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        // Back to back: one prepared step replayed, the ids fed on the device; the host waits only at the end.
        foreach (int q in sequences) cache.Append(q);
        KvStep same = cache.Prepare(sequences, 1, model.Device);
        Tensor next = tokens;
        long t0 = 0;
        for (int s = 0; s < warmup + steps; s++)
        {
            if (s == warmup)
            {
                _ = next.cpu();
                t0 = Stopwatch.GetTimestamp();
            }
            using var stepScope = NewDisposeScope();
            next = stepScope.MoveToOuter(model.ForwardGreedy(next, cache, same, attention).view(-1, 1));
        }
        _ = next.cpu();
        double pipelined = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return (total / steps * 1e3, queue / steps * 1e3, pipelined / steps * 1e3);
    }

    private static int[] ParseContexts(string list)
    {
        var result = new List<int>();
        foreach (string part in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int c) || c < 1 || c > 8000)
                throw new UserError($"--context: must be 1 to 8000, got {part}");
            result.Add(c);
        }
        if (result.Count == 0) throw new UserError("--context: give at least one context");
        return [.. result];
    }

    private static int[] ParseBatches(string list)
    {
        var result = new List<int>();
        foreach (string part in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int b) || b < 1 || b > 4096)
                throw new UserError($"--batch: \"{part}\" is not a batch size from 1 to 4096");
            result.Add(b);
        }
        if (result.Count == 0) throw new UserError("--batch: give at least one batch size");
        return [.. result];
    }
}
