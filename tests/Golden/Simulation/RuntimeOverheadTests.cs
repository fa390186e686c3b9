using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>The runner's own memory model: its largest prefill pass and the calibrated overhead.</summary>
public class RuntimeOverheadTests
{
    [Fact]
    public void Prompts_of_one_length_share_a_pass_of_at_most_the_cap()
    {
        // Three prompts of 100 tokens share one pass (300); one of 250 is its own; 100 of 100 tokens fill 8,100 of 8,192.
        Assert.Equal(300, RuntimeOverhead.LargestPrefillPass([100, 250, 100, 100, 7]));
        Assert.Equal(8_100, RuntimeOverhead.LargestPrefillPass(Enumerable.Repeat(100, 100)));
        Assert.Equal(9_000, RuntimeOverhead.LargestPrefillPass([9_000])); // a prompt longer than the cap is one pass
    }

    [Fact]
    public void Overhead_is_the_fixed_part_plus_the_largest_pass_transients()
    {
        // Llama 3 8B: 2 bytes × (3 × 14,336 + 3 × 4,096) = 110,592 bytes a token; × 1.8 × 2,589 tokens.
        long expected = 805_000_000 + (long)(1.8 * 110_592 * 2_589);
        Assert.Equal(expected, RuntimeOverhead.H200.Bytes(ModelSpec.Llama3_8B, 2, 2_589));
    }

    [Fact]
    public void The_49_shareGpt_prompts_prefill_at_most_their_longest_prompt_in_one_pass()
    {
        IEnumerable<int> prompts = TestTraces.ShareGpt.Requests.Take(49).Select(r => r.PromptTokens);
        Assert.Equal(prompts.Max(), RuntimeOverhead.LargestPrefillPass(prompts));
    }

    [Fact]
    public void Without_the_reference_attention_a_run_holds_its_largest_pass()
    {
        IReadOnlyList<TraceRequest> requests = TestTraces.ShareGpt.Requests.Take(49).ToList();
        long largest = RuntimeOverhead.LargestPrefillPass(requests.Select(r => r.PromptTokens));
        Assert.Equal(RuntimeOverhead.H200.Bytes(ModelSpec.Llama3_8B, 2, largest),
            RuntimeOverhead.H200.RunBytes(ModelSpec.Llama3_8B, 2, requests, 256, referencePrompts: false, referenceDecode: false));
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
