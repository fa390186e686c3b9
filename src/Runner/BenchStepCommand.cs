using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PagedSim.Allocator;
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
    private const int BlockSize = 256;

    public static Command Create()
    {
        var batches = new Option<string>("--batch") { Description = "Batch sizes, comma-separated.", DefaultValueFactory = _ => "1,8,49" };
        var context = new Option<int>("--context") { Description = "Tokens already in each sequence's cache.", DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { Description = "Timed steps per measurement (after 5 warm-up steps).", DefaultValueFactory = _ => 50 };
        var device = new Option<string>("--device") { Description = "auto (CUDA if available, else CPU), cuda or cpu.", DefaultValueFactory = _ => "auto" };
        device.AcceptOnlyFromAmong("auto", "cuda", "cpu");
        var shape = new Option<string?>("--synthetic-shape") { Description = "8b or tiny (default: 8b on CUDA, tiny on the CPU)." };
        shape.AcceptOnlyFromAmong("8b", "tiny");
        var kernels = new Option<string>("--kernels") { Description = "auto, fused, fused-no-graphs or eager.", DefaultValueFactory = _ => "auto" };
        kernels.AcceptOnlyFromAmong(KernelsChoice.Values);
        var attention = new Option<string>("--attention") { Description = "auto, flash, paged or reference.", DefaultValueFactory = _ => "auto" };
        attention.AcceptOnlyFromAmong(AttentionChoice.Values);
        var bandwidth = new Option<double>("--peak-bandwidth") { Description = "Memory bandwidth of the roofline, TB/s (3.35: H100 SXM).", DefaultValueFactory = _ => 3.35 };
        var json = new Option<string?>("--json") { Description = "Write the results as JSON to this file." };
        var command = new Command("bench-step", "Benchmark one decode step (synthetic weights, paged cache): latency, CPU queue time, GPU-bound time, roofline.")
        {
            batches, context, steps, device, shape, kernels, attention, bandwidth, json,
        };
        command.SetAction(parse => Run(parse.GetValue(batches)!, parse.GetValue(context), parse.GetValue(steps), parse.GetValue(device)!,
            parse.GetValue(shape), parse.GetValue(kernels)!, parse.GetValue(attention)!, parse.GetValue(bandwidth), parse.GetValue(json), Console.Out));
        return command;
    }

    internal static int Run(string batchList, int context, int steps, string deviceChoice, string? shape, string kernelsChoice,
        string attentionChoice, double peakTbPerSecond, string? jsonPath, TextWriter console)
    {
        int[] batches = ParseBatches(batchList);
        if (context < 1 || context > 8000) throw new UserError($"--context: must be 1 to 8000, got {context}");
        if (steps < 1) throw new UserError($"--steps: must be positive, got {steps}");
        if (peakTbPerSecond <= 0) throw new UserError($"--peak-bandwidth: must be positive, got {peakTbPerSecond}");
        if (jsonPath is not null && Path.GetDirectoryName(Path.GetFullPath(jsonPath)) is string dir && !Directory.Exists(dir))
            throw new UserError($"--json: directory {dir} does not exist");
        Device dev = deviceChoice == "cpu" ? CPU : deviceChoice == "cuda" ? CudaDevices.CudaOrFail() : cuda.is_available() ? CUDA : CPU;
        bool onCuda = dev.type == DeviceType.CUDA;
        shape ??= onCuda ? "8b" : "tiny";
        Llama3Config config = shape == "8b" ? SyntheticShapes.Llama3_8B : SyntheticShapes.Tiny;
        ScalarType dtype = onCuda ? ScalarType.BFloat16 : ScalarType.Float32;
        (ILayerKernels layerKernels, string kernelsNote) = KernelsChoice.Select(dev, dtype, kernelsChoice);
        (IAttentionBackend attention, string attentionNote) = AttentionChoice.Select(dev, attentionChoice, BlockSize, naive: false);
        using var attentionScope = attention as IDisposable;
        using var model = new Llama3(config, SyntheticWeights.Create(config, dev, dtype, seed: 0), dev, dtype, 8192, layerKernels);
        string deviceName = onCuda ? RunDeviceMemory.Name() ?? "CUDA device" : "CPU";
        console.WriteLine($"{deviceName}, synthetic {shape} weights ({dtype}), {attentionNote}; {kernelsNote}");

        int elementBytes = dtype == ScalarType.Float32 ? 4 : 2;
        long weightBytes = WeightBytesPerStep(model.Weights);
        long kvBytesPerToken = 2L * config.Layers * config.KvHeads * config.HeadDim * elementBytes;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| batch | context | ms/step (sync, as generation) | CPU queue ms | ms/step (back to back) | GB read | TB/s | roofline ms at {peakTbPerSecond} TB/s | × roofline |"));
        console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        var rows = new List<Dictionary<string, object>>();
        foreach (int batch in batches)
        {
            (double syncMs, double queueMs, double pipelinedMs) = Measure(model, attention, batch, context, steps);
            long bytes = weightBytes + (long)batch * (context + 1) * kvBytesPerToken;
            double rooflineMs = bytes / (peakTbPerSecond * 1e12) * 1e3;
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {batch} | {context} | {syncMs:F2} | {queueMs:F2} | {pipelinedMs:F2} | {bytes / 1e9:F2} | {bytes / (pipelinedMs * 1e-3) / 1e12:F2} | {rooflineMs:F2} | {syncMs / rooflineMs:F2} |"));
            rows.Add(new Dictionary<string, object>
            {
                ["batch"] = batch, ["context"] = context, ["syncMsPerStep"] = Math.Round(syncMs, 3), ["cpuQueueMs"] = Math.Round(queueMs, 3),
                ["backToBackMsPerStep"] = Math.Round(pipelinedMs, 3), ["bytesRead"] = bytes, ["rooflineMs"] = Math.Round(rooflineMs, 3),
            });
        }
        if (jsonPath is not null)
        {
            var doc = new Dictionary<string, object?>
            {
                ["format"] = "pagedsim-bench-step/1", ["device"] = deviceName, ["shape"] = shape, ["dtype"] = dtype.ToString(),
                ["attention"] = attention.Name, ["kernels"] = layerKernels.Name, ["peakBandwidthTBps"] = peakTbPerSecond, ["results"] = rows,
            };
            AtomicFile.WriteAllText(jsonPath, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n");
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

    private static (double SyncMs, double QueueMs, double PipelinedMs) Measure(Llama3 model, IAttentionBackend attention, int batch, int context, int steps)
    {
        const int warmup = 5;
        int blocksPerSequence = (context + warmup + 2 * steps + 1 + BlockSize - 1) / BlockSize;
        using var cache = new PagedKvCache(model.Config, new KvCacheOptions(batch * blocksPerSequence, BlockSize, 8192), model.Device, model.DType);
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
