using System.Diagnostics;
using System.Globalization;
using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using PagedSim.Runner.Output;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// <c>bench-step --prefill-passes BxL,…</c>: prefill passes alone, each of B prompts of L tokens over an empty paged
/// cache, timed as generation runs them (queued, then the chosen ids read back), with the FLOPs of the pass and the
/// matrix rate that gives. The time model prices a prefill pass by one effective rate; passes of several sizes show
/// how the rate grows with the tokens of a pass. The first (cold) pass of each size is shown apart: the first size of a
/// process also pays for loading its kernels, which a run's first prefill pass pays too.
/// </summary>
internal static class BenchPrefill
{
    /// <summary>Most tokens one measured pass may take.</summary>
    public const int MaxPassTokens = 65_536;

    /// <summary>Parses "BxL,BxL,…" (B prompts of L tokens a pass).</summary>
    public static (int Prompts, int Tokens)[] Parse(string list)
    {
        var result = new List<(int, int)>();
        foreach (string part in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string[] bl = part.Split('x');
            if (bl.Length != 2 || !int.TryParse(bl[0], NumberStyles.None, CultureInfo.InvariantCulture, out int b)
                || !int.TryParse(bl[1], NumberStyles.None, CultureInfo.InvariantCulture, out int l) || b < 1 || l < 1)
                throw new UserError($"--prefill-passes: \"{part}\" is not B prompts x L tokens (e.g. 8x512)");
            if (l > 8192) throw new UserError($"--prefill-passes: {part}: prompts of {l:N0} tokens exceed the 8,192 positions");
            if ((long)b * l > MaxPassTokens) throw new UserError($"--prefill-passes: {part}: {(long)b * l:N0} tokens in one pass (at most {MaxPassTokens:N0})");
            result.Add((b, l));
        }
        if (result.Count == 0) throw new UserError("--prefill-passes: give at least one pass, e.g. 1x512,8x512");
        return [.. result];
    }

    /// <summary>Measures each pass <paramref name="repeats"/> times after two warm-up passes; prints a table and returns the JSON rows.</summary>
    public static List<Dictionary<string, object?>> Run(Llama3 model, IAttentionBackend attention, (int Prompts, int Tokens)[] passes, int repeats,
        int blockSize, TextWriter console)
    {
        console.WriteLine("| prompts | tokens each | tokens | ms/pass | first pass ms | FLOPs | FLOP/s |");
        console.WriteLine("|---|---|---|---|---|---|---|");
        var rows = new List<Dictionary<string, object?>>();
        foreach ((int prompts, int tokens) in passes)
        {
            (double seconds, double first) = Measure(model, attention, prompts, tokens, repeats, blockSize);
            double flops = Flops(model, prompts, tokens);
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {prompts} | {tokens} | {(long)prompts * tokens} | {seconds * 1e3:F2} | {first * 1e3:F2} | {Scaled(flops)} | {Scaled(flops / seconds)} |"));
            rows.Add(new Dictionary<string, object?>
            {
                ["prompts"] = prompts, ["tokensEach"] = tokens, ["seconds"] = Math.Round(seconds, 6), ["firstSeconds"] = Math.Round(first, 6),
                ["flops"] = flops,
            });
        }
        return rows;
    }

    /// <summary>A count in G (10⁹) or T (10¹²), whichever reads better.</summary>
    private static string Scaled(double value) => value >= 1e12
        ? string.Create(CultureInfo.InvariantCulture, $"{value / 1e12:F1} T")
        : string.Create(CultureInfo.InvariantCulture, $"{value / 1e9:F2} G");

    /// <summary>
    /// FLOPs of one pass, counted as the time model counts them: 2 per weight of every layer per token, the output head
    /// on each prompt's last token, and 4 × heads × head dim per (query, key) pair of causal attention, per layer.
    /// </summary>
    public static double Flops(Llama3 model, int prompts, int tokens)
    {
        Llama3Config c = model.Config;
        double layerWeights = 0;
        foreach (LayerWeights l in model.Weights.Layers)
            foreach (Tensor t in new[] { l.AttentionNorm, l.Wqkv, l.Wo, l.FfnNorm, l.W13, l.W2 })
                layerWeights += t.NumberOfElements;
        double keysAttended = (double)prompts * tokens * (tokens + 1.0) / 2;
        return 2 * layerWeights * prompts * tokens + 2.0 * model.Weights.Output.NumberOfElements * prompts
            + 4.0 * c.Layers * c.Heads * c.HeadDim * keysAttended;
    }

    /// <summary>Mean seconds of the measured passes, and of the first (cold) one.</summary>
    private static (double Mean, double First) Measure(Llama3 model, IAttentionBackend attention, int prompts, int tokens, int repeats, int blockSize)
    {
        const int warmup = 2;
        using IKvCache cache = model.NewPagedCache(new KvCacheOptions(prompts * ((tokens + blockSize - 1) / blockSize), blockSize, 8192));
        int[] sequences = [.. Enumerable.Range(0, prompts).Select(_ => cache.Add(tokens))];
        using var scope = NewDisposeScope();
        Tensor input = zeros([prompts, tokens], ScalarType.Int64, model.Device);
        KvStep step = cache.Prepare(sequences, tokens, model.Device); // every pass writes the same slots again
        double total = 0, first = 0;
        for (int r = 0; r < warmup + repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            using var passScope = NewDisposeScope();
            _ = model.ForwardGreedy(input, cache, step, attention).cpu(); // the ids on the host: waits for the pass
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (r == 0) first = seconds;
            if (r >= warmup) total += seconds;
        }
        return (total / repeats, first);
    }
}
