using PagedSim.Model.Generation;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// Whether two greedy runs of the same requests computed the same thing, where bit-identical results cannot be asked
/// for (two attention kernels, two kernel sets: float sums in another order). While both runs are fed the same
/// tokens, the RMS of their logit difference must stay within <see cref="NoiseBound"/> of the logits' standard
/// deviation; the ids may then part only at a step where that noise flips an argmax (if run A picks a and run B picks
/// b, A's margin of a over b is at most twice their largest logit difference: the report shows both). Comparison
/// stops where the ids part, since the runs are fed different tokens from then on.
/// </summary>
internal static class GreedyAgreement
{
    /// <summary>
    /// Largest RMS logit difference allowed at any step of the common prefix, as a fraction of the logits' standard
    /// deviation. A wrong cache slot, block or position decorrelates the logits: an RMS difference of about √2 times
    /// the deviation. bf16 kernels that sum in another order stay near 5% on Llama-3-8B's shape.
    /// </summary>
    public const double NoiseBound = 0.2;

    /// <summary>Asserts the agreement for every request; writes one line per request.</summary>
    public static void Assert(IReadOnlyList<GenerationResult> a, IReadOnlyList<GenerationResult> b, string nameA, string nameB, ITestOutputHelper output)
    {
        Xunit.Assert.Equal(a.Count, b.Count);
        int same = 0, total = 0;
        for (int i = 0; i < a.Count; i++)
        {
            GenerationResult ra = a[i], rb = b[i];
            Xunit.Assert.NotNull(ra.Logits);
            Xunit.Assert.NotNull(rb.Logits);
            int steps = Math.Min(ra.Tokens.Count, rb.Tokens.Count);
            int first = ra.Tokens.Zip(rb.Tokens).TakeWhile(p => p.First == p.Second).Count();
            // Steps up to and including the first differing one were fed identical tokens.
            int compared = Math.Min(first + 1, steps);
            double sigma = StandardDeviation(ra.Logits![0]), noise = 0, rms = 0;
            for (int t = 0; t < compared; t++)
            {
                noise = Math.Max(noise, MaxDifference(ra.Logits[t], rb.Logits![t]));
                rms = Math.Max(rms, RmsDifference(ra.Logits[t], rb.Logits[t]));
            }
            string parting = first >= steps ? "identical ids"
                : $"ids part at new token {first} ({nameA} {ra.Tokens[first]}, {nameB} {rb.Tokens[first]}; {nameA}'s margin {Margin(ra.Logits[first], ra.Tokens[first], rb.Tokens[first]):G3})";
            output.WriteLine($"request {i}: {parting}; over {compared} step(s): RMS logit diff up to {rms / sigma:P1} of the logits' deviation {sigma:G3}, max |diff| {noise:G3}");
            same += first;
            total += steps;
            Xunit.Assert.True(rms <= NoiseBound * sigma,
                $"request {i}: {nameA} and {nameB} logits differ by {rms:G3} RMS ({rms / sigma:P1} of their deviation {sigma:G3}) while fed the same tokens");
        }
        output.WriteLine($"{same} of {total} new tokens identical before the runs parted");
    }

    private static double Margin(float[] logits, int chosen, int other) => logits[chosen] - logits[other];

    private static double MaxDifference(float[] x, float[] y)
    {
        double worst = 0;
        for (int v = 0; v < x.Length; v++) worst = Math.Max(worst, Math.Abs((double)x[v] - y[v]));
        return worst;
    }

    private static double RmsDifference(float[] x, float[] y)
    {
        double sum = 0;
        for (int v = 0; v < x.Length; v++) sum += ((double)x[v] - y[v]) * ((double)x[v] - y[v]);
        return Math.Sqrt(sum / x.Length);
    }

    private static double StandardDeviation(float[] x)
    {
        double mean = x.Average(v => (double)v);
        return Math.Sqrt(x.Average(v => (v - mean) * (v - mean)));
    }
}
