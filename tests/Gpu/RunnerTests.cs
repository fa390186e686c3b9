using PagedSim.Allocator.Simulation;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.Generation;
using PagedSim.Runner;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// The runner on the GPU with synthetic Llama-3-8B weights: the paged and naive caches produce the same greedy ids,
/// flash-attn's kernel and the reference backend produce the same ids on the paged cache, and a batch the simulator
/// says overflows fails with the one-line out-of-memory message.
/// </summary>
[Collection(RunnerGpuCollection.Name)]
public sealed class RunnerTests(RunnerSessionFixture fixture, ITestOutputHelper output) : IClassFixture<RunnerSessionFixture>
{
    private static readonly int[] s_newTokens = Enumerable.Repeat(RunnerSessionFixture.NewTokens, RunnerSessionFixture.Requests).ToArray();

    [Fact]
    public void Paged_and_naive_caches_give_identical_ids()
    {
        CudaDevice.SkipUnlessAvailable();
        RunOutcome paged = Run(naive: false), naive = Run(naive: true);

        AssertSameIds(paged.Results, naive.Results, "paged", "naive");
        output.WriteLine($"paged {paged.MeanStepMs:F1} ms/step, naive {naive.MeanStepMs:F1} ms/step (reference attention)");
    }

    [Fact]
    public void Flash_and_reference_backends_give_identical_ids_on_the_paged_cache()
    {
        FlashAvailability.SkipUnlessAvailable();
        using var flash = new FlashAttentionBackend();
        RunOutcome reference = Run(naive: false), flashed = Run(naive: false, flash);

        AssertSameIds(reference.Results, flashed.Results, "reference", "flash");
        output.WriteLine($"reference {reference.MeanStepMs:F1} ms/step, flash {flashed.MeanStepMs:F1} ms/step (8 requests, paged)");
    }

    private RunOutcome Run(bool naive, FlashAttentionBackend? attention = null)
    {
        RunRequests prompts = fixture.Prompts!;
        RunOutcome o = fixture.Session!.Generate(prompts.Prompts, s_newTokens, stops: null, naive, blockSize: 256, maxPoolBlocks: null,
            progress: null, attention: attention, recordLogits: true);
        Assert.All(o.Results, r => Assert.Equal(RunnerSessionFixture.NewTokens, r.Tokens.Count));
        return o;
    }

    private void AssertSameIds(IReadOnlyList<GenerationResult> a, IReadOnlyList<GenerationResult> b, string nameA, string nameB)
    {
        for (int i = 0; i < a.Count; i++)
        {
            int first = a[i].Tokens.Zip(b[i].Tokens).TakeWhile(p => p.First == p.Second).Count();
            if (first < a[i].Tokens.Count) output.WriteLine($"request {i}: {nameA} and {nameB} differ first at new token {first}; {Explain(a[i], b[i], first, nameA)}");
            Assert.Equal(a[i].Tokens, b[i].Tokens);
        }
    }

    /// <summary>
    /// Whether a divergence is a near-tie: the top-1 margin of <paramref name="a"/>'s logits where the ids part, against
    /// the largest logit difference between the two runs before that point (their numerical noise).
    /// </summary>
    private static string Explain(GenerationResult a, GenerationResult b, int step, string nameA)
    {
        if (a.Logits is null || b.Logits is null) return "no logits recorded";
        float[] la = a.Logits[step];
        int top = a.Tokens[step], other = b.Tokens[step];
        float margin = la[top] - la.Where((_, v) => v != top).Max();
        double noise = 0;
        for (int t = 0; t < step; t++)
            for (int v = 0; v < la.Length; v++) noise = Math.Max(noise, Math.Abs(a.Logits[t][v] - b.Logits[t][v]));
        return $"there {nameA}'s top-1 margin is {margin:G3} (its logit of the other run's token {other} is {la[other]:G4} vs {la[top]:G4}); "
            + $"largest |logit difference| between the runs over the {step} earlier step(s): {noise:G3} — "
            + (margin <= noise ? "a near-tie within the runs' numerical noise" : "NOT explained by the noise seen before");
    }
}
