using PagedSim.Model.Generation;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// The tensor sampler (<see cref="DeviceSampler"/>, run here on CPU tensors) draws from the same renormalised nucleus as
/// the host's <see cref="TokenSampler"/>, draw for draw with the same uniforms, and a row's draw does not depend on the
/// other rows of its batch.
/// </summary>
public class DeviceSamplerTests
{
    // Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1, in a scrambled token order.
    private static readonly float[] s_logits = [MathF.Log(0.15f), MathF.Log(0.5f), MathF.Log(0.05f), MathF.Log(0.3f)];

    [Theory]
    [InlineData(0.75, new[] { 0.0, 0.625, 0.0, 0.375 })]  // nucleus {1, 3}: 0.5 + 0.3 reaches 0.75
    [InlineData(0.45, new[] { 0.0, 1.0, 0.0, 0.0 })]      // the top token alone holds 0.5
    [InlineData(1.0, new[] { 0.15, 0.5, 0.05, 0.3 })]     // everything
    public void Draws_follow_the_renormalised_nucleus(double topP, double[] expected)
    {
        const int draws = 20_000;
        var random = new Random(3);
        double[] uniforms = [.. Enumerable.Range(0, draws).Select(_ => random.NextDouble())];
        using Tensor logits = tensor(s_logits).unsqueeze(0).expand(draws, s_logits.Length).contiguous();
        using Tensor ids = DeviceSampler.Sample(logits, new SamplingOptions(1.0, topP, 0), uniforms);
        long[] chosen = ids.data<long>().ToArray();

        for (int t = 0; t < expected.Length; t++)
        {
            int count = chosen.Count(c => c == t);
            if (expected[t] == 0) Assert.Equal(0, count);
            else Assert.InRange((double)count / draws, expected[t] - 0.015, expected[t] + 0.015);
        }
    }

    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(0.8, 0.95)]
    [InlineData(0.6, 0.5)]
    [InlineData(1.5, 0.9)]
    [InlineData(0.05, 1.0)]
    public void The_host_sampler_draws_the_same_tokens_with_the_same_stream(double temperature, double topP)
    {
        // Llama 3's vocabulary, logits spread like a model's (a few dominant tokens over a long tail), in bf16.
        const int vocab = 128_256, rows = 24;
        var fill = new Random(11);
        var logits = new float[rows * vocab];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(fill.NextDouble() * 6 + (fill.Next(1000) == 0 ? 8 : 0));
        using Tensor device = tensor(logits, [rows, vocab]).to(ScalarType.BFloat16);
        float[] rounded = device.to(ScalarType.Float32).data<float>().ToArray();
        var options = new SamplingOptions(temperature, topP, 0);

        var hostStream = new Random(5);
        int[] host = [.. Enumerable.Range(0, rows).Select(r => TokenSampler.Sample(rounded.AsSpan(r * vocab, vocab), options, hostStream))];
        var deviceStream = new Random(5);
        double[] uniforms = [.. Enumerable.Range(0, rows).Select(_ => deviceStream.NextDouble())];
        using Tensor ids = DeviceSampler.Sample(device, options, uniforms);

        Assert.Equal(host, ids.data<long>().ToArray().Select(x => (int)x).ToArray());
    }

    [Fact]
    public void A_rows_draw_does_not_depend_on_the_rest_of_the_batch()
    {
        var fill = new Random(2);
        float[] values = [.. Enumerable.Range(0, 5 * 1000).Select(_ => (float)(fill.NextDouble() * 5))];
        using Tensor logits = tensor(values, [5, 1000]);
        double[] uniforms = [0.1, 0.9, 0.5, 0.999, 0.0];
        var options = new SamplingOptions(0.7, 0.8, 0);
        using Tensor batch = DeviceSampler.Sample(logits, options, uniforms);
        long[] together = batch.data<long>().ToArray();
        for (int r = 0; r < 5; r++)
        {
            using Tensor row = logits.narrow(0, r, 1);
            using Tensor alone = DeviceSampler.Sample(row, options, [uniforms[r]]);
            Assert.Equal(together[r], alone.data<long>()[0]);
        }
    }

    [Fact]
    public void Refuses_greedy_options_and_a_uniform_count_that_does_not_match()
    {
        using Tensor logits = zeros(2, 8);
        Assert.Throws<ArgumentException>(() => DeviceSampler.Sample(logits, SamplingOptions.Greedy, [0.5, 0.5]));
        Assert.Throws<ArgumentException>(() => DeviceSampler.Sample(logits, new SamplingOptions(1.0), [0.5]));
    }
}
