using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;

namespace PagedSim.Model.Generation;

/// <summary>Temperature and top-p sampling on the host, from one request's logits.</summary>
internal static class TokenSampler
{
    // Bisection steps for the nucleus threshold: probabilities are relative to the largest (1), so 40 halvings
    // separate any two that differ by more than 1e-12.
    private const int ThresholdSteps = 40;

    /// <summary>
    /// Draws a token: softmax at the temperature, restricted to the nucleus (the most probable tokens whose mass
    /// reaches top-p), renormalised. The nucleus is found by bisecting a probability threshold (vectorised linear
    /// passes over the vocabulary, no sort: 128k-entry vocabularies are drawn from for every sample of every step;
    /// bench/SamplingBenchmarks.cs), and the draw walks the nucleus in token order. Deterministic for a given
    /// <paramref name="random"/> state on a given machine (vector sums are ordered by the vector width).
    /// </summary>
    public static int Sample(ReadOnlySpan<float> logits, SamplingOptions options, Random random)
    {
        int n = logits.Length;
        double[] rented = ArrayPool<double>.Shared.Rent(n);
        try
        {
            Span<double> probs = rented.AsSpan(0, n);
            float maxLogit = float.NegativeInfinity;
            foreach (float l in logits) maxLogit = Math.Max(maxLogit, l);
            double scale = 1.0 / options.Temperature;
            for (int i = 0; i < n; i++) probs[i] = (logits[i] - maxLogit) * scale;
            Exp(probs);
            double sum = Sum(probs, 0);

            // The largest threshold whose tokens (probability at least the threshold) still hold top-p of the mass.
            double threshold = 0, kept = sum;
            if (options.TopP < 1)
            {
                double target = options.TopP * sum, low = 0, high = 1.0 + 1e-9; // the largest probability is 1
                for (int step = 0; step < ThresholdSteps; step++)
                {
                    double mid = 0.5 * (low + high), mass = Sum(probs, mid);
                    if (mass >= target) (low, kept) = (mid, mass);
                    else high = mid;
                }
                threshold = low; // kept is the mass at low: set with it, or the whole sum while low is 0
            }
            double r = random.NextDouble() * kept;
            int last = 0;
            for (int i = 0; i < n; i++)
            {
                if (probs[i] < threshold) continue;
                last = i;
                r -= probs[i];
                if (r < 0) return i;
            }
            return last; // rounding left r at or just above zero
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>Sum of the entries at least <paramref name="atLeast"/>, vectorised (it runs 40 times per draw).</summary>
    private static double Sum(ReadOnlySpan<double> values, double atLeast)
    {
        ReadOnlySpan<Vector<double>> vectors = MemoryMarshal.Cast<double, Vector<double>>(values);
        var floor = new Vector<double>(atLeast);
        Vector<double> total = Vector<double>.Zero;
        foreach (Vector<double> v in vectors) total += Vector.ConditionalSelect(Vector.GreaterThanOrEqual(v, floor), v, Vector<double>.Zero);
        double sum = Vector.Sum(total);
        for (int i = vectors.Length * Vector<double>.Count; i < values.Length; i++)
            if (values[i] >= atLeast) sum += values[i];
        return sum;
    }

    private static void Exp(Span<double> values)
    {
        Span<Vector<double>> vectors = MemoryMarshal.Cast<double, Vector<double>>(values);
        for (int i = 0; i < vectors.Length; i++) vectors[i] = Vector.Exp(vectors[i]);
        for (int i = vectors.Length * Vector<double>.Count; i < values.Length; i++) values[i] = Math.Exp(values[i]);
    }
}
