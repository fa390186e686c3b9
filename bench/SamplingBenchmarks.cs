using BenchmarkDotNet.Attributes;
using PagedSim.Model.Generation;

namespace PagedSim.Bench;

/// <summary>
/// One top-p draw from Llama 3's 128,256 logits on the host (<see cref="TokenSampler"/>), as parallel sampling does for
/// every sample of every step. Logits are spread like a random-weight model's (flat: the nucleus holds most of the
/// vocabulary, the hard case) or peaked like a trained model's (a few dozen tokens hold the mass).
/// </summary>
[MemoryDiagnoser]
public class SamplingBenchmarks
{
    private float[] _logits = [];
    private readonly SamplingOptions _options = new(0.8, 0.95, 0);
    private readonly Random _random = new(7);

    /// <summary>Shape of the logits.</summary>
    [Params("flat", "peaked")]
    public string Logits { get; set; } = "flat";

    [GlobalSetup]
    public void Setup()
    {
        var fill = new Random(1);
        _logits = new float[128_256];
        for (int i = 0; i < _logits.Length; i++)
        {
            double gaussian = Math.Sqrt(-2 * Math.Log(1 - fill.NextDouble())) * Math.Cos(2 * Math.PI * fill.NextDouble());
            _logits[i] = (float)(Logits == "flat" ? 1.28 * gaussian : 3.0 * gaussian);
        }
        if (Logits == "peaked")
            for (int i = 0; i < 32; i++) _logits[fill.Next(_logits.Length)] = 25f + i * 0.1f;
    }

    [Benchmark]
    public int DrawTopP() => TokenSampler.Sample(_logits, _options, _random);

    /// <summary>The straightforward way, for comparison: sort the whole vocabulary by probability, take the prefix.</summary>
    [Benchmark(Baseline = true)]
    public int SortWholeVocabulary()
    {
        int n = _logits.Length;
        var probs = new double[n];
        double max = _logits.Max(), sum = 0;
        for (int i = 0; i < n; i++) sum += probs[i] = Math.Exp((_logits[i] - max) / _options.Temperature);
        int[] order = [.. Enumerable.Range(0, n)];
        Array.Sort(order, (a, b) => probs[b].CompareTo(probs[a]) is int c && c != 0 ? c : a.CompareTo(b));
        int keep = 0;
        double kept = 0;
        while (keep < n && (keep == 0 || kept < _options.TopP * sum)) kept += probs[order[keep++]];
        double r = _random.NextDouble() * kept;
        for (int i = 0; i < keep; i++)
            if ((r -= probs[order[i]]) < 0) return order[i];
        return order[keep - 1];
    }
}
