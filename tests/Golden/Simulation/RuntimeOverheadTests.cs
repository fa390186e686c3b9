using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>The runner's own memory model: its largest prefill pass and the calibrated overhead.</summary>
public class RuntimeOverheadTests
{
    // Llama 3 8B: 2 bytes × (3 × 14,336 + 3 × 4,096) = 110,592 bytes of activations a token.
    // Ragged passes run operation by operation hold 2.16 of them (fitted on the H200 like 1.8); in the layer loop, 1.8.
    private static long Expected(long largestPassTokens, double factor = 1.8) => 805_000_000 + (long)(factor * 110_592 * largestPassTokens);

    private static long Overhead(params int[] prompts) =>
        RuntimeOverhead.H200.RunBytes(ModelSpec.Llama3_8B, 2, [.. prompts.Select((p, i) => new TraceRequest($"r{i}", p, 10))], 256,
            referencePrompts: false, referenceDecode: false);

    [Fact]
    public void Overhead_is_the_fixed_part_plus_the_largest_pass_transients()
    {
        // Three prompts of 100 tokens share one pass (300); one of 250 is its own; 100 of 100 tokens fill 8,100 of 8,192.
        Assert.Equal(Expected(300), Overhead(100, 250, 100, 100, 7));
        Assert.Equal(Expected(8_100), Overhead([.. Enumerable.Repeat(100, 100)]));
        Assert.Equal(Expected(9_000), Overhead(9_000)); // a prompt longer than the cap is one pass
        Assert.Equal(Expected(2_589), Overhead(2_589));
    }

    [Fact]
    public void The_49_shareGpt_prompts_prefill_at_most_their_longest_prompt_in_one_pass()
    {
        IReadOnlyList<TraceRequest> requests = TestTraces.ShareGpt.Requests.Take(49).ToList();
        Assert.Equal(Expected(requests.Max(r => r.PromptTokens)),
            RuntimeOverhead.H200.RunBytes(ModelSpec.Llama3_8B, 2, requests, 256, referencePrompts: false, referenceDecode: false));
    }

    [Fact]
    public void Ragged_passes_hold_the_activations_of_every_prompt_they_take()
    {
        // Prompts of 100 ×3, 250 and 7 share one ragged pass of 557 tokens; the 49 ShareGPT prompts fill passes near 8,192.
        TraceRequest[] requests = [.. new[] { 100, 250, 100, 100, 7 }.Select((p, i) => new TraceRequest($"r{i}", p, 10))];
        Assert.Equal(Expected(557, 2.16), RuntimeOverhead.H200.RunBytes(ModelSpec.Llama3_8B, 2, requests, 256, false, false, raggedPrefill: true));
        IReadOnlyList<TraceRequest> shareGpt = TestTraces.ShareGpt.Requests.Take(49).ToList();
        long largest = PrefillPlan.RaggedPasses([.. shareGpt.Select(r => r.PromptTokens)], 8192)
            .Max(pass => pass.Sum(part => (long)part.Length * part.Requests.Length));
        Assert.InRange(largest, 6_000, 8_192);
        Assert.Equal(Expected(largest, 2.16), RuntimeOverhead.H200.RunBytes(ModelSpec.Llama3_8B, 2, shareGpt, 256, false, false, raggedPrefill: true));
        // In the native layer loop (one flash-attn call a layer) a ragged pass holds what a pass by length does.
        Assert.Equal(Expected(largest), RuntimeOverhead.H200.RunBytes(ModelSpec.Llama3_8B, 2, shareGpt, 256, false, false, raggedPrefill: true, raggedInLayerLoop: true));
    }

    [Fact]
    public void The_reference_attention_adds_its_call_to_the_worst_pass_it_takes()
    {
        // Prompts of 10 and 20 tokens, 3 and 5 output tokens: prefill passes [1 × 10] and [1 × 20]; decode step s runs
        // the requests with more than s output tokens over the longest of them: s = 1, 2: both over 21, 22 keys;
        // s = 3, 4: the second over 23, 24.
        ModelSpec m = ModelSpec.Llama32_1B;
        TraceRequest[] requests = [new("a", 10, 3), new("b", 20, 5)];
        double perToken = 1.8 * OverheadModel.ActivationBytesPerToken(m, 2, 1);
        long Call(long batch, long queries, long keys) => ReferenceAttentionMemory.CallBytes(m, 2, batch, queries, keys, 16);

        double prompts = Math.Max(perToken * 10 + Call(1, 10, 10), perToken * 20 + Call(1, 20, 20));
        Assert.Equal(805_000_000 + (long)prompts, RuntimeOverhead.H200.RunBytes(m, 2, requests, 16, referencePrompts: true, referenceDecode: false));

        double decode = new[] { perToken * 2 + Call(2, 1, 21), perToken * 2 + Call(2, 1, 22), perToken + Call(1, 1, 23), perToken + Call(1, 1, 24) }.Max();
        Assert.Equal(805_000_000 + (long)Math.Max(prompts, decode), RuntimeOverhead.H200.RunBytes(m, 2, requests, 16, referencePrompts: true, referenceDecode: true));
    }

    [Fact]
    public void A_long_prompt_is_scored_in_tiles_within_the_budget()
    {
        // Llama 3 8B, one prompt of 2,589 tokens: 32 heads × 2,589 keys × 4 bytes = 331,392 bytes a query, so a tile of
        // 810 queries keeps the scores within 256 MiB; the whole matrix would be 858 MB (and its softmax as much again).
        ModelSpec m = ModelSpec.Llama3_8B;
        long call = ReferenceAttentionMemory.CallBytes(m, 2, 1, 2_589, 2_589, 16);
        long float32Cache = 8L * 128 * 2_589 * 4, queries = 810L * 32 * 128 * 4, scores = 32L * 810 * 2_589 * 4;
        Assert.Equal(2 * float32Cache + 2 * queries + 2 * scores + 810L * 2_589 + queries, call);
    }
}
