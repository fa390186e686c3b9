using System.Globalization;
using System.Text.Json;
using PagedSim.Allocator.Simulation;
using PagedSim.Model.Generation;

namespace PagedSim.Runner;

/// <summary>The text and JSON reports of <c>serve-trace</c>.</summary>
internal static class ServeTraceOutput
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static void Print(TextWriter console, ServeTraceReport r)
    {
        ServeTraceSetup s = r.Setup;
        ContinuousRun run = r.Run;
        console.WriteLine(Header(s, $"Continuous batching of {s.Requests.Count} request(s)"));
        console.WriteLine(F($"  pool    {s.PoolBlocks:N0} blocks of {s.Settings.BlockSize} tokens ({Mb(s.BlockBytes * (long)s.PoolBlocks)}), max running {s.Settings.MaxRunning}, {SamplingText(s.Settings.Sampling)}"));
        console.WriteLine();
        console.WriteLine("  request          prompt  output  queue s  TTFT s  TPOT ms  preempted");
        for (int i = 0; i < run.Results.Count; i++)
        {
            ContinuousRequestResult q = run.Results[i];
            console.WriteLine(F($"  {s.Requests[i].Id,-15} {s.Requests[i].PromptTokens,7} {q.ProducedTokens,7} {q.QueueSeconds,8:F3} {q.FirstTokenSeconds,7:F3} {q.SecondsPerOutputToken * 1000,8:F2} {q.Preemptions,10}"));
        }
        console.WriteLine();
        console.WriteLine(F($"  throughput   {run.GeneratedTokens:N0} tokens in {run.Seconds:F2} s: {run.TokensPerSecond:F1} tok/s ({run.Steps:N0} steps, {run.ForwardPasses:N0} forward passes, {run.PrefillTokens:N0} prefill tokens)"));
        console.WriteLine(F($"  latency      queue p50 {P(run, x => x.QueueSeconds, 50):F3} s, p90 {P(run, x => x.QueueSeconds, 90):F3} s; TTFT p50 {P(run, x => x.FirstTokenSeconds, 50):F3} s, p90 {P(run, x => x.FirstTokenSeconds, 90):F3} s; TPOT p50 {P(run, x => x.SecondsPerOutputToken, 50) * 1000:F2} ms, p90 {P(run, x => x.SecondsPerOutputToken, 90) * 1000:F2} ms"));
        console.WriteLine(F($"  completed    {run.Results.Count}/{s.Requests.Count}"));
        if (r.Static is ContinuousStaticBaseline b)
        {
            string equal = s.Settings.Sampling.IsGreedy ? F($"; outputs equal to the continuous run's: {r.StaticMatches}/{run.Results.Count}") : "";
            console.WriteLine(F($"  static       {b.GeneratedTokens:N0} tokens in {b.Seconds:F2} s: {b.TokensPerSecond:F1} tok/s in {b.Waves} static batch(es) at the same memory; continuous is {run.TokensPerSecond / Math.Max(b.TokensPerSecond, 1e-9):F2}x{equal}"));
        }
        if (r.Prediction.Simulation.Timing is TimingResult t)
        {
            console.WriteLine(F($"  predicted    {t.TokensPerSecond:F1} tok/s ({100 * (t.TokensPerSecond / Math.Max(run.TokensPerSecond, 1e-9) - 1):+0.0;-0.0}% against measured); TTFT p50 {t.Ttft.P50:F3} s, p90 {t.Ttft.P90:F3} s; TPOT p50 {t.Tpot.P50 * 1000:F2} ms, p90 {t.Tpot.P90 * 1000:F2} ms"));
            if (r.Static is ContinuousStaticBaseline sb && r.Prediction.StaticWavesSeconds is double w)
                console.WriteLine(F($"  predicted    static {sb.GeneratedTokens / w:F1} tok/s ({100 * (sb.GeneratedTokens / w / Math.Max(sb.TokensPerSecond, 1e-9) - 1):+0.0;-0.0}% against measured)"));
        }
        console.WriteLine();
        console.WriteLine("                measured  simulator  error");
        Compare(console, "steps", run.Steps, r.Prediction.Steps);
        Compare(console, "preemptions", run.Preemptions, r.Prediction.Preemptions);
        Compare(console, "peak blocks", run.PeakBlocks, r.Prediction.PeakBlocks);
        if (r.Prediction.Simulation.PrefixCache is PrefixCacheStats p)
        {
            Compare(console, "cached tokens", run.CachedTokens, p.CachedTokens);
            console.WriteLine(F($"  prefix cache  hit rate {run.PrefixHitRate:P1} measured, {p.HitRate:P1} predicted ({run.CachedTokens:N0} of {run.AdmittedTokens:N0} prompt tokens not prefilled); TTFT p50 {P(run, x => x.FirstTokenSeconds, 50):F3} s; {run.TokensPerSecond:F1} tok/s"));
        }
    }

    public static string Json(ServeTraceReport r)
    {
        ServeTraceSetup s = r.Setup;
        ContinuousRun run = r.Run;
        int every = Math.Max(1, run.Timeline.Count / 500);
        var doc = Common(s);
        doc["mode"] = "continuous";
        doc["maxRunning"] = s.Settings.MaxRunning;
        doc["steps"] = run.Steps;
        doc["forwardPasses"] = run.ForwardPasses;
        doc["generatedTokens"] = run.GeneratedTokens;
        doc["prefillTokens"] = run.PrefillTokens;
        doc["seconds"] = Math.Round(run.Seconds, 4);
        doc["tokensPerSecond"] = Math.Round(run.TokensPerSecond, 2);
        doc["preemptions"] = run.Preemptions;
        doc["peakBlocks"] = run.PeakBlocks;
        doc["completed"] = run.Results.Count;
        if (r.Static is ContinuousStaticBaseline b)
            doc["static"] = new Dictionary<string, object>
            {
                ["waves"] = b.Waves, ["generatedTokens"] = b.GeneratedTokens, ["seconds"] = Math.Round(b.Seconds, 4),
                ["tokensPerSecond"] = Math.Round(b.TokensPerSecond, 2), ["outputsEqual"] = r.StaticMatches,
            };
        doc["prediction"] = new Dictionary<string, object> { ["steps"] = r.Prediction.Steps, ["preemptions"] = r.Prediction.Preemptions, ["peakBlocks"] = r.Prediction.PeakBlocks };
        if (r.Prediction.Simulation.PrefixCache is PrefixCacheStats p)
            doc["prefix_cache"] = new Dictionary<string, object>
            {
                ["prompt_tokens"] = run.AdmittedTokens, ["cached_tokens"] = run.CachedTokens, ["hit_rate"] = Math.Round(run.PrefixHitRate, 6),
                ["predicted_cached_tokens"] = p.CachedTokens, ["predicted_hit_rate"] = Math.Round(p.HitRate, 6),
                ["ttft_p50_seconds"] = Math.Round(P(run, x => x.FirstTokenSeconds, 50), 5),
            };
        if (r.Prediction.Simulation.Timing is TimingResult t)
            doc["predicted_time"] = new Dictionary<string, object?>
            {
                ["tokens_per_second"] = Math.Round(t.TokensPerSecond, 2), ["seconds"] = Math.Round(t.WallSeconds, 4),
                ["ttft_p50_seconds"] = Math.Round(t.Ttft.P50, 4), ["ttft_p90_seconds"] = Math.Round(t.Ttft.P90, 4),
                ["tpot_p50_seconds"] = Math.Round(t.Tpot.P50, 5), ["tpot_p90_seconds"] = Math.Round(t.Tpot.P90, 5),
                ["static_seconds"] = r.Prediction.StaticWavesSeconds is double w ? Math.Round(w, 4) : null,
            };
        doc["error"] = new Dictionary<string, object>
        {
            ["steps"] = run.Steps - r.Prediction.Steps, ["preemptions"] = run.Preemptions - r.Prediction.Preemptions, ["peakBlocks"] = run.PeakBlocks - r.Prediction.PeakBlocks,
        };
        doc["results"] = run.Results.Select((q, i) => new Dictionary<string, object?>
        {
            ["id"] = s.Requests[i].Id, ["promptTokens"] = s.Requests[i].PromptTokens, ["outputTokens"] = q.ProducedTokens,
            ["queueSeconds"] = Math.Round(q.QueueSeconds, 5), ["firstTokenSeconds"] = Math.Round(q.FirstTokenSeconds, 5),
            ["secondsPerOutputToken"] = Math.Round(q.SecondsPerOutputToken, 6), ["admittedStep"] = q.AdmittedStep,
            ["finishedStep"] = q.FinishedStep, ["preemptions"] = q.Preemptions,
        }).ToArray();
        doc["timeline"] = run.Timeline.Where((_, i) => i % every == 0 || i == run.Timeline.Count - 1).Select(p => new Dictionary<string, object>
        {
            ["step"] = p.Step, ["seconds"] = Math.Round(p.Seconds, 4), ["running"] = p.Running, ["waiting"] = p.Waiting, ["blocks"] = p.UsedBlocks,
        }).ToArray();
        return JsonOutput.Serialize(doc);
    }

    public static void PrintSampling(TextWriter console, ServeTraceSamplingReport r)
    {
        ServeTraceSetup s = r.Setup;
        int k = s.Settings.Samples;
        console.WriteLine(Header(s, $"Parallel sampling, {k} samples of each of {s.Requests.Count} prompt(s)"));
        console.WriteLine(F($"  pool    {s.PoolBlocks:N0} blocks of {s.Settings.BlockSize} tokens ({Mb(s.BlockBytes * (long)s.PoolBlocks)}), {SamplingText(s.Settings.Sampling)}"));
        console.WriteLine();
        console.WriteLine("                         shared (fork)  independent copies");
        console.WriteLine(F($"  peak blocks            {r.Forked.PeakBlocks,13:N0}  {r.Independent.PeakBlocks,18:N0}"));
        console.WriteLine(F($"  predicted peak blocks  {r.PredictedForked.PeakBlocks,13:N0}  {r.PredictedIndependent.PeakBlocks,18:N0}"));
        console.WriteLine(F($"  copy-on-write copies   {r.Forked.CopiedBlocks,13:N0}  {r.Independent.CopiedBlocks,18:N0}"));
        console.WriteLine(F($"  predicted copies       {r.PredictedForked.CopiedBlocks,13:N0}  {r.PredictedIndependent.CopiedBlocks,18:N0}"));
        console.WriteLine(F($"  steps (predicted)      {$"{r.Forked.Steps:N0} ({r.PredictedForked.Steps:N0})",13}  {$"{r.Independent.Steps:N0} ({r.PredictedIndependent.Steps:N0})",18}"));
        console.WriteLine(F($"  seconds                {r.Forked.Seconds,13:F2}  {r.Independent.Seconds,18:F2}"));
        console.WriteLine();
        int saved = r.Independent.PeakBlocks - r.Forked.PeakBlocks, predicted = r.PredictedIndependent.PeakBlocks - r.PredictedForked.PeakBlocks;
        console.WriteLine(F($"  KV memory saved at peak: {saved:N0} blocks, {Mb(saved * s.BlockBytes)} ({Share(saved, r.Independent.PeakBlocks)}) measured; {predicted:N0} blocks ({Share(predicted, r.PredictedIndependent.PeakBlocks)}) predicted; error {saved - predicted:+0;-0;0} blocks"));
        int total = r.Forked.Samples.Sum(g => g.Count);
        console.WriteLine(F($"  samples equal to the independent run token for token: {total - r.MismatchedSamples}/{total}"));
    }

    public static string SamplingJson(ServeTraceSamplingReport r)
    {
        var doc = Common(r.Setup);
        doc["mode"] = "parallel-sampling";
        doc["samples"] = r.Setup.Settings.Samples;
        Dictionary<string, object> Run(ParallelSamplingRun run, ParallelSamplingPrediction p) => new()
        {
            ["peakBlocks"] = run.PeakBlocks, ["predictedPeakBlocks"] = p.PeakBlocks, ["copiedBlocks"] = run.CopiedBlocks,
            ["predictedCopiedBlocks"] = p.CopiedBlocks, ["steps"] = run.Steps, ["predictedSteps"] = p.Steps, ["seconds"] = Math.Round(run.Seconds, 4),
        };
        doc["shared"] = Run(r.Forked, r.PredictedForked);
        doc["independent"] = Run(r.Independent, r.PredictedIndependent);
        doc["savedBlocks"] = r.Independent.PeakBlocks - r.Forked.PeakBlocks;
        doc["savedBytes"] = (r.Independent.PeakBlocks - r.Forked.PeakBlocks) * r.Setup.BlockBytes;
        doc["predictedSavedBlocks"] = r.PredictedIndependent.PeakBlocks - r.PredictedForked.PeakBlocks;
        doc["mismatchedSamples"] = r.MismatchedSamples;
        doc["samplesTokens"] = r.Forked.Samples.Select(g => g.Select(x => x.Tokens).ToArray()).ToArray();
        return JsonOutput.Serialize(doc);
    }

    private static Dictionary<string, object?> Common(ServeTraceSetup s) => new()
    {
        ["format"] = "pagedsim-serve/1",
        ["model"] = s.ModelName,
        ["device"] = s.Settings.Device,
        ["dtype"] = s.Model.DType.ToString(),
        ["trace"] = s.TraceSource,
        ["requests"] = s.Requests.Count,
        ["blockSize"] = s.Settings.BlockSize,
        ["poolBlocks"] = s.PoolBlocks,
        ["blockBytes"] = s.BlockBytes,
        ["temperature"] = s.Settings.Sampling.Temperature,
        ["topP"] = s.Settings.Sampling.TopP,
        ["seed"] = s.Settings.Sampling.Seed,
    };

    private static string Header(ServeTraceSetup s, string what) =>
        F($"{what} from {s.TraceSource}\n  model   {s.ModelName}: {s.Model.Config.Layers} layers, dim {s.Model.Config.Dim}, vocab {s.Model.Config.VocabSize:N0}, {s.Settings.Device} {s.Model.DType}; {(s.Requests.All(r => r.PromptIds is not null) ? $"prompts are the trace's ids (mod {s.Model.Config.VocabSize:N0})" : "prompts are seeded random ids of the trace's lengths")}, outputs run to the trace's lengths{(s.Settings.PrefixCaching ? "; prefix caching on" : "")}");

    private static void Compare(TextWriter console, string name, long measured, long predicted)
    {
        string rel = predicted == 0 ? (measured == 0 ? "0.0%" : "n/a") : F($"{100.0 * (measured - predicted) / predicted:+0.0;-0.0;0.0}%");
        console.WriteLine(F($"  {name,-12} {measured,10:N0} {predicted,10:N0}  {measured - predicted:+0;-0;0} ({rel})"));
    }

    private static double P(ContinuousRun run, Func<ContinuousRequestResult, double> f, int percentile)
    {
        double[] xs = run.Results.Select(f).Order().ToArray();
        return xs.Length == 0 ? 0 : xs[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * xs.Length) - 1, 0, xs.Length - 1)];
    }

    private static string SamplingText(SamplingOptions o) => o.IsGreedy ? "greedy" : F($"temperature {o.Temperature}, top-p {o.TopP}, seed {o.Seed}");

    private static string Share(long part, long whole) => whole == 0 ? "0%" : F($"{100.0 * part / whole:F1}%");

    private static string Mb(long bytes) => F($"{bytes / 1e6:F2} MB");

    private static string F(FormattableString s) => s.ToString(Inv);
}
