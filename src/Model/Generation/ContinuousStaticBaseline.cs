using System.Diagnostics;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;

namespace PagedSim.Model.Generation;

/// <summary>
/// The static-batching baseline for a continuous run at the same memory: requests in arrival order form batches
/// ("waves") of as many as fit the pool at their full length (and at most the running limit); each wave runs to its
/// end with <see cref="BatchGenerator"/> before the next starts, as servers did before continuous batching.
/// </summary>
/// <param name="Results">One per request, in request order.</param>
/// <param name="Waves">Static batches run.</param>
/// <param name="Seconds">Wall time of all waves.</param>
public sealed record ContinuousStaticBaseline(IReadOnlyList<GenerationResult> Results, int Waves, double Seconds)
{
    /// <summary>Tokens produced (stop tokens included).</summary>
    public long GeneratedTokens => Results.Sum(r => (long)r.Tokens.Count + (r.StopToken is null ? 0 : 1));

    /// <summary>Generated tokens per second of wall time.</summary>
    public double TokensPerSecond => Seconds > 0 ? GeneratedTokens / Seconds : 0;

    /// <summary>Runs <paramref name="requests"/> in static waves through <paramref name="cache"/>.</summary>
    /// <exception cref="ArgumentException">A request alone does not fit the pool.</exception>
    public static ContinuousStaticBaseline Run(Llama3 model, PagedKvCache cache, IAttentionBackend attention,
        IReadOnlyList<GenerationRequest> requests, int maxRunning, SamplingOptions? sampling = null)
    {
        int pool = cache.Manager.TotalBlocks;
        var results = new GenerationResult[requests.Count];
        var generator = new BatchGenerator(model, cache, attention);
        var clock = Stopwatch.StartNew();
        int waves = 0;
        for (int start = 0; start < requests.Count;)
        {
            int end = start, blocks = 0;
            while (end < requests.Count && end - start < maxRunning)
            {
                int need = cache.Manager.BlocksFor(requests[end].Prompt.Count + requests[end].MaxNewTokens);
                if (blocks + need > pool) break;
                blocks += need;
                end++;
            }
            if (end == start) throw new ArgumentException($"Request {start} alone needs more than the pool's {pool} blocks.", nameof(requests));
            // BatchGenerator numbers sampling streams from 0 within a wave: sampled (not greedy) outputs of later waves
            // differ from the continuous run's.
            GenerationRequest[] wave = requests.Skip(start).Take(end - start).ToArray();
            IReadOnlyList<GenerationResult> done = generator.Generate(wave, new GenerationOptions(sampling));
            for (int i = 0; i < done.Count; i++) results[start + i] = done[i];
            waves++;
            start = end;
        }
        return new ContinuousStaticBaseline(results, waves, clock.Elapsed.TotalSeconds);
    }
}
