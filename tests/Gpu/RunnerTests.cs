using PagedSim.Allocator.Simulation;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.Generation;
using PagedSim.Runner;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// The runner on the GPU with synthetic Llama-3-8B weights: the paged and naive caches produce identical greedy ids
/// through the same flash kernel; with the reference backend, and flash against the reference, they agree within
/// numerical noise (<see cref="GreedyAgreement"/>), as do ragged prefill passes and passes by prompt length.
/// </summary>
[Collection(RunnerGpuCollection.Name)]
public sealed class RunnerTests(RunnerSessionFixture fixture, ITestOutputHelper output) : IClassFixture<RunnerSessionFixture>
{
    private static readonly int[] s_newTokens = Enumerable.Repeat(RunnerSessionFixture.NewTokens, RunnerSessionFixture.Requests).ToArray();

    [Fact]
    public void Paged_and_naive_caches_give_identical_ids()
    {
        // The same flash kernel reads both layouts; with the split count fixed, the two caches differ only in where a
        // key lives, so the arithmetic, and hence every id and logit, must be identical.
        FlashAvailability.SkipUnlessAvailable();
        using var flash = new FlashAttentionBackend { NumSplits = 1 };
        RunOutcome paged = Run(naive: false, flash), naive = Run(naive: true, flash);

        double worst = 0;
        for (int i = 0; i < paged.Results.Count; i++)
        {
            int steps = Math.Min(paged.Results[i].Logits!.Count, naive.Results[i].Logits!.Count);
            for (int t = 0; t < steps; t++)
                worst = Math.Max(worst, paged.Results[i].Logits![t].Zip(naive.Results[i].Logits![t], (a, b) => Math.Abs(a - b)).Max());
        }
        output.WriteLine($"paged {paged.MeanStepMs:F1} ms/step, naive {naive.MeanStepMs:F1} ms/step (flash, 1 split, {fixture.Session!.Model.Kernels.Name} kernels); max |logit diff| {worst:G3}");
        for (int i = 0; i < paged.Results.Count; i++) Assert.Equal(naive.Results[i].Tokens, paged.Results[i].Tokens);
    }

    [Fact]
    public void Paged_and_naive_caches_agree_with_the_reference_backend()
    {
        CudaDevice.SkipUnlessAvailable();
        RunOutcome paged = Run(naive: false), naive = Run(naive: true);

        GreedyAgreement.Assert(paged.Results, naive.Results, "paged", "naive", output);
        output.WriteLine($"paged {paged.MeanStepMs:F1} ms/step, naive {naive.MeanStepMs:F1} ms/step (reference attention)");
    }

    [Fact]
    public void Flash_and_reference_backends_agree_on_the_paged_cache()
    {
        FlashAvailability.SkipUnlessAvailable();
        using var flash = new FlashAttentionBackend();
        RunOutcome reference = Run(naive: false), flashed = Run(naive: false, flash);

        GreedyAgreement.Assert(reference.Results, flashed.Results, "reference", "flash", output);
        output.WriteLine($"reference {reference.MeanStepMs:F1} ms/step, flash {flashed.MeanStepMs:F1} ms/step (8 requests, paged)");
    }

    [Fact]
    public void Ragged_prefill_agrees_with_passes_by_length_through_flash()
    {
        // The ragged pass runs in the native layer loop with one flash call a layer over every prompt (ragged query
        // offsets), and its matmuls take every prompt's rows at once; against one pass per length, over the paged and
        // the naive cache, the ids agree within numerical noise.
        FlashAvailability.SkipUnlessAvailable();
        using var flash = new FlashAttentionBackend();
        foreach (bool naive in new[] { false, true })
        {
            RunOutcome byLength = Run(naive, flash), ragged = Run(naive, flash, PrefillMode.Ragged);

            Assert.Equal(1, ragged.PrefillPasses); // the 8 prompts' tokens fit one pass of 8,192
            Assert.True(byLength.PrefillPasses > 1, $"the prompts should have several lengths ({byLength.PrefillPasses} pass)");
            GreedyAgreement.Assert(byLength.Results, ragged.Results, $"by length{(naive ? ", naive" : "")}", "ragged", output);
            output.WriteLine($"{(naive ? "naive" : "paged")} prefill: {byLength.PrefillPasses} passes by length {byLength.PrefillSeconds:F3} s, ragged 1 pass {ragged.PrefillSeconds:F3} s");
        }
    }

    private RunOutcome Run(bool naive, FlashAttentionBackend? attention = null, PrefillMode prefill = PrefillMode.Whole)
    {
        RunRequests prompts = fixture.Prompts!;
        RunOutcome o = fixture.Session!.Generate(prompts.Prompts, s_newTokens, stops: null, naive, blockSize: 256, maxPoolBlocks: null,
            progress: null, attention: attention, recordLogits: true, prefill: prefill);
        Assert.All(o.Results, r => Assert.Equal(RunnerSessionFixture.NewTokens, r.Tokens.Count));
        return o;
    }
}
