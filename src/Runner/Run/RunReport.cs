using System.Globalization;
using System.Text.Json;
using PagedSim.Allocator.Simulation;
using PagedSim.Model.Generation;
using PagedSim.Model.Tokenization;

namespace PagedSim.Runner;

/// <summary>The text and JSON reports of a run: responses, the seed's fragmentation line, KV, speed and memory figures.</summary>
internal sealed record RunReport(
    RunSettings Settings, string DeviceName, long DeviceTotalBytes, string ModelName, string AttentionNote,
    RunRequests Requests, RunOutcome Outcome, RunPrediction Prediction, Llama3Tokenizer Tokenizer, long? PredictedRunnerPeakBytes = null)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public void WriteResponses(TextWriter console)
    {
        foreach (GenerationResult r in Outcome.Results)
        {
            console.WriteLine(Tokenizer.Decode(r.Tokens));
            console.WriteLine(new string('-', 50));
        }
    }

    public void WriteSummary(TextWriter console)
    {
        RunOutcome o = Outcome;
        bool naive = Settings.Naive;
        console.WriteLine(string.Create(Inv, $"Fragmented Memory: {o.FragmentedBytes / 1e9:F2} GB ({100.0 * o.FragmentedBytes / DeviceTotalBytes:F2}%)"));
        string blocks = naive
            ? $"{o.TotalBlocks:N0} rows of {RunSettings.MaxSequenceLength:N0} tokens"
            : $"{o.PeakBlocks}/{o.TotalBlocks} blocks of {Settings.BlockSize} used at peak";
        console.WriteLine($"KV cache ({Settings.Cache}): peak {ByteSize.Gb(o.PeakKvBytes)} reserved, {blocks}; {ByteSize.Gb(o.KvPoolBytes)} allocated");
        console.WriteLine(string.Create(Inv,
            $"Generated {o.GeneratedTokens:N0} tokens for {o.Results.Count} request(s) in {o.Seconds:F2} s: {o.TokensPerSecond:F1} tokens/s; " +
            $"{o.DecodeSteps:N0} decode steps, mean {o.MeanStepMs:F2} ms/step (forward queued in {o.MeanLaunchMs:F2} ms); " +
            $"prefill {o.PrefillPasses} pass(es), {o.PrefillSeconds:F2} s"));
        if (Prediction.Time is TimingResult t && o.PeakDeviceBytes is not null) console.WriteLine(SpeedLine(t, o)); // a CPU run is not what was predicted
        long? predicted = Prediction.PeakMemory(naive);
        string predictedText = predicted is long p ? ByteSize.Gb(p) : "does not fit";
        string measured = o.PeakDeviceBytes is long m
            ? $"measured {ByteSize.Gb(m)} in use on the device at peak (total − free, polled every pass; {ByteSize.Gb(o.BaselineDeviceBytes ?? 0)} before the model was created)"
            : "not measured (CPU run)";
        console.WriteLine($"Peak GPU memory: predicted {predictedText} (weights + overhead + peak KV), {measured}");
        // What this runner allocates (its KV pool up front, its own runtime overhead) against the device's count.
        if (PredictedRunnerPeakBytes is long runner && o.PeakDeviceBytes is long device)
            console.WriteLine(string.Create(Inv,
                $"Runner peak: predicted {ByteSize.Gb(runner)} (weights + the KV it allocates + {RuntimeOverhead.H200.Provenance.Split(" (")[0]} runtime overhead), measured {ByteSize.Gb(device)} ({100.0 * (runner - device) / device:+0.00;-0.00}%)"));
        console.WriteLine($"{DeviceName}, {ModelName}, {AttentionNote}");
    }

    /// <summary>Predicted against measured speed, with the relative error of tokens/s.</summary>
    public static string SpeedLine(TimingResult t, RunOutcome o) => string.Create(Inv,
        $"Speed: predicted {t.TokensPerSecond:F1} tokens/s, measured {o.TokensPerSecond:F1} ({100 * (t.TokensPerSecond / o.TokensPerSecond - 1):+0.0;-0.0}%); " +
        $"decode predicted {t.MeanDecodeSeconds * 1e3:F2} ms/step, measured {o.MeanStepMs:F2}; prefill predicted {t.PrefillSeconds:F2} s, measured {o.PrefillSeconds:F2} s");

    public string Json()
    {
        RunOutcome o = Outcome;
        RunResult predicted = Prediction.For(Settings.Naive);
        var doc = new Dictionary<string, object?>
        {
            ["format"] = "pagedsim-run/1",
            ["device"] = DeviceName,
            ["deviceTotalBytes"] = DeviceTotalBytes,
            ["model"] = ModelName,
            ["attention"] = AttentionNote,
            ["kernels"] = Settings.Kernels,
            ["cache"] = Settings.Cache,
            ["blockSize"] = Settings.Naive ? null : Settings.BlockSize,
            ["prefill"] = Settings.Prefill,
            ["requests"] = o.Results.Count,
            ["generatedTokens"] = o.GeneratedTokens,
            ["seconds"] = Math.Round(o.Seconds, 4),
            ["tokensPerSecond"] = Math.Round(o.TokensPerSecond, 2),
            ["decodeSteps"] = o.DecodeSteps,
            ["meanStepMs"] = Math.Round(o.MeanStepMs, 3),
            ["meanLaunchMs"] = Math.Round(o.MeanLaunchMs, 3),
            ["prefillPasses"] = o.PrefillPasses,
            ["prefillSeconds"] = Math.Round(o.PrefillSeconds, 4),
            ["prefillPassSeconds"] = o.PrefillPassSeconds.Select(x => Math.Round(x, 4)).ToArray(),
            ["kv"] = new Dictionary<string, object?>
            {
                ["totalBlocks"] = o.TotalBlocks,
                ["peakBlocks"] = o.PeakBlocks,
                ["allocatedBytes"] = o.KvPoolBytes,
                ["peakReservedBytes"] = o.PeakKvBytes,
                ["seedFragmentedBytes"] = o.FragmentedBytes,
                ["seedFragmentedShare"] = Math.Round((double)o.FragmentedBytes / DeviceTotalBytes, 6),
            },
            ["memory"] = new Dictionary<string, object?>
            {
                ["predictedFits"] = predicted.Fits,
                ["predictedPeakBytes"] = Prediction.PeakMemory(Settings.Naive),
                ["predictedPeakKvBytes"] = (long)predicted.Peak.ReservedBytes,
                ["predictedMaxBatch"] = Prediction.MaxFor(Settings.Naive).MaxBatch,
                ["predictedRunnerPeakBytes"] = PredictedRunnerPeakBytes,
                ["measuredPeakDeviceBytes"] = o.PeakDeviceBytes,
                ["baselineDeviceBytes"] = o.BaselineDeviceBytes,
            },
            ["time"] = Prediction.Time is not TimingResult t ? null : new Dictionary<string, object?>
            {
                ["predicted_tokens_per_second"] = Math.Round(t.TokensPerSecond, 2),
                ["predicted_seconds"] = Math.Round(t.WallSeconds, 4),
                ["predicted_prefill_seconds"] = Math.Round(t.PrefillSeconds, 4),
                ["predicted_mean_decode_step_ms"] = Math.Round(t.MeanDecodeSeconds * 1e3, 3),
                ["predicted_ttft_p50_seconds"] = Math.Round(t.Ttft.P50, 4),
                ["predicted_tpot_p50_seconds"] = Math.Round(t.Tpot.P50, 5),
                ["measured_tokens_per_second"] = Math.Round(o.TokensPerSecond, 2),
                ["figures"] = StepTimeParameters.For(Prediction.Memory.Gpu)?.Provenance,
            },
            ["results"] = o.Results.Select((r, i) => new Dictionary<string, object?>
            {
                ["id"] = Requests.Entries[i].Id,
                ["promptTokens"] = Requests.Prompts[i].Length,
                ["generated"] = r.Tokens,
                ["finishReason"] = r.Reason == FinishReason.Stop ? "stop" : "length",
                ["stopToken"] = r.StopToken,
                ["text"] = Tokenizer.Decode(r.Tokens),
            }).ToArray(),
        };
        return JsonOutput.Serialize(doc);
    }
}
