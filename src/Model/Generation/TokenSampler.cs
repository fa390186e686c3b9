namespace PagedSim.Model.Generation;

/// <summary>Temperature and top-p sampling on the host, from one request's logits.</summary>
internal static class TokenSampler
{
    public static int Sample(ReadOnlySpan<float> logits, SamplingOptions options, Random random)
    {
        int n = logits.Length;
        var probs = new double[n];
        double max = double.NegativeInfinity;
        foreach (float l in logits) max = Math.Max(max, l);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += probs[i] = Math.Exp((logits[i] - max) / options.Temperature);
        int[] order = Enumerable.Range(0, n).ToArray();
        Array.Sort(order, (a, b) => probs[b].CompareTo(probs[a]) is int c && c != 0 ? c : a.CompareTo(b));
        // Smallest prefix of the sorted tokens whose probability reaches top-p.
        int keep = 0;
        double kept = 0;
        while (keep < n && (keep == 0 || kept < options.TopP * sum)) kept += probs[order[keep++]];
        double r = random.NextDouble() * kept;
        for (int i = 0; i < keep; i++)
        {
            r -= probs[order[i]];
            if (r < 0) return order[i];
        }
        return order[keep - 1];
    }
}
