using PagedSim.Model.Generation;

namespace PagedSim.Golden.Tests.Model;

/// <summary>Top-p sampling draws only from the nucleus, in proportion to the probabilities, deterministically per seed.</summary>
public class TokenSamplerTests
{
    // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1, in a scrambled token order.
    private static readonly float[] s_logits = [MathF.Log(0.15f), MathF.Log(0.5f), MathF.Log(0.05f), MathF.Log(0.3f)];

    [Theory]
    [InlineData(0.75, new[] { 0.0, 0.625, 0.0, 0.375 })]  // nucleus {1, 3}: 0.5 + 0.3 reaches 0.75
    [InlineData(0.45, new[] { 0.0, 1.0, 0.0, 0.0 })]      // the top token alone holds 0.5
    [InlineData(1.0, new[] { 0.15, 0.5, 0.05, 0.3 })]     // everything
    public void Draws_follow_the_renormalised_nucleus(double topP, double[] expected)
    {
        var options = new SamplingOptions(1.0, topP, 0);
        var random = new Random(3);
        var counts = new int[s_logits.Length];
        const int draws = 20_000;
        for (int i = 0; i < draws; i++) counts[TokenSampler.Sample(s_logits, options, random)]++;

        for (int t = 0; t < counts.Length; t++)
        {
            if (expected[t] == 0) Assert.Equal(0, counts[t]);
            else Assert.InRange((double)counts[t] / draws, expected[t] - 0.015, expected[t] + 0.015);
        }
    }

    [Fact]
    public void The_same_seed_draws_the_same_tokens()
    {
        var options = new SamplingOptions(0.8, 0.95, 0);
        var logits = new float[128_256];
        var fill = new Random(1);
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(fill.NextDouble() * 4);
        int[] Draw() { var r = new Random(42); return [.. Enumerable.Range(0, 16).Select(_ => TokenSampler.Sample(logits, options, r))]; }

        Assert.Equal(Draw(), Draw());
    }
}
