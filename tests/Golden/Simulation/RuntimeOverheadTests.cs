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
}
