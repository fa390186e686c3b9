namespace PagedSim.Allocator.Simulation;

/// <summary>The predicted time of a run.</summary>
/// <param name="WallSeconds">From the first pass to the last token.</param>
/// <param name="PrefillSeconds">Seconds of prefill (and recompute) passes.</param>
/// <param name="DecodeSeconds">Seconds of decode passes, the one-time costs of new batch sizes included.</param>
/// <param name="PrefillPasses">Prefill passes.</param>
/// <param name="DecodePasses">Decode passes.</param>
/// <param name="DecodeShapes">Distinct decode batch sizes met.</param>
/// <param name="GeneratedTokens">Answer tokens produced.</param>
/// <param name="Ttft">Time to first token over requests (all arrive at time 0).</param>
/// <param name="Tpot">Time per output token after the first, over requests with at least two.</param>
public sealed record TimingResult(
    double WallSeconds, double PrefillSeconds, double DecodeSeconds, long PrefillPasses, long DecodePasses, int DecodeShapes,
    long GeneratedTokens, Percentiles Ttft, Percentiles Tpot)
{
    /// <summary>Answer tokens per second of wall time (the runner's "tokens/s").</summary>
    public double TokensPerSecond => WallSeconds > 0 ? GeneratedTokens / WallSeconds : 0;

    /// <summary>Mean seconds of a decode pass.</summary>
    public double MeanDecodeSeconds => DecodePasses > 0 ? DecodeSeconds / DecodePasses : 0;

    /// <summary>Builds the result from per-request first-token and finish times.</summary>
    internal static TimingResult From(double wall, double prefill, double decode, long prefillPasses, long decodePasses, int shapes,
        ReadOnlySpan<double> firstToken, ReadOnlySpan<double> finish, ReadOnlySpan<int> outputs)
    {
        var ttft = new double[firstToken.Length];
        var tpot = new List<double>(firstToken.Length);
        long generated = 0;
        for (int i = 0; i < firstToken.Length; i++)
        {
            ttft[i] = firstToken[i];
            generated += outputs[i];
            if (outputs[i] > 1) tpot.Add((finish[i] - firstToken[i]) / (outputs[i] - 1));
        }
        double[] tpots = [.. tpot];
        return new TimingResult(wall, prefill, decode, prefillPasses, decodePasses, shapes, generated, Percentiles.Of(ttft), Percentiles.Of(tpots));
    }
}
