using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Generation;

/// <summary>
/// Temperature and top-p sampling where the logits are (the GPU in a CUDA run): only each row's chosen id comes back to
/// the host, never the logits. The same draw as <see cref="TokenSampler"/>, in tensor operations, so the CPU tests run
/// this very code: softmax at the temperature (in float64), the nucleus as the most probable tokens whose mass reaches
/// top-p (found by a sort and a running sum instead of the host's bisection: the same set, ties included), then the
/// nucleus walked in token order against <c>u · kept mass</c>.
/// </summary>
/// <remarks>
/// Random streams: the caller draws each row's uniform <c>u</c> from the row's own sequence's seeded
/// <see cref="Random"/> (one <c>NextDouble</c> a draw, as <see cref="TokenSampler"/> takes it), so a sequence's draws
/// depend on its seed and on how many tokens it has drawn, never on which other sequences share the batch; forked
/// samples each hold a stream of their own. With the same uniform the two samplers choose the same token except where
/// <c>u</c> falls within rounding (about 1e-15 of the mass) of a boundary between two tokens.
/// </remarks>
public static class DeviceSampler
{
    /// <summary>
    /// Draws a token for every row of <paramref name="logits"/> ([rows, vocab], any floating type, any device):
    /// row i with uniform <paramref name="uniforms"/>[i] in [0, 1). Returns int64 ids [rows] on the logits' device.
    /// </summary>
    public static Tensor Sample(Tensor logits, SamplingOptions options, ReadOnlySpan<double> uniforms)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(options);
        if (options.IsGreedy) throw new ArgumentException("Greedy decoding takes the argmax, not a draw.", nameof(options));
        if (logits.dim() != 2 || logits.shape[0] != uniforms.Length)
            throw new ArgumentException($"Logits [{string.Join(", ", logits.shape)}] need one uniform a row ({uniforms.Length} given).", nameof(logits));
        long vocab = logits.shape[1];
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Every Scalar held for the call (see Scalars).
        using Scalar inverseTemperature = (1.0 / options.Temperature).ToScalar(), topP = options.TopP.ToScalar(),
            lastIndex = (vocab - 1).ToScalar(), zero = 0.0.ToScalar(), end = vocab.ToScalar();
        // As the host: (logit - max) in float32, then scaled and exponentiated in float64; the largest is exp(0) = 1.
        Tensor x = logits.to(ScalarType.Float32);
        Tensor shifted = x - x.max(1, keepdim: true).values;
        Tensor probs = shifted.to(ScalarType.Float64).mul_(inverseTemperature).exp_();

        Tensor kept = probs, inNucleus;
        if (options.TopP < 1)
        {
            // The nucleus threshold: the probability at which the mass of the tokens at least as likely first reaches
            // top-p of the total.
            Tensor sorted = probs.sort(1, descending: true).Values;
            Tensor running = sorted.cumsum(1);
            Tensor target = running.narrow(1, vocab - 1, 1).mul(topP);
            Tensor at = running.lt(target).sum(1, keepdim: true).clamp_max(lastIndex);
            Tensor threshold = sorted.gather(1, at);
            inNucleus = probs.ge(threshold);
            kept = probs.masked_fill(inNucleus.logical_not(), zero);
        }
        else
        {
            inNucleus = ones_like(probs, ScalarType.Bool);
        }

        // The first token (in token order) whose running sum passes r = u · kept mass.
        Tensor inOrder = kept.cumsum(1);
        Tensor u = tensor(uniforms.ToArray(), [uniforms.Length, 1], ScalarType.Float64).to(logits.device);
        Tensor r = u * inOrder.narrow(1, vocab - 1, 1);
        Tensor chosen = inOrder.le(r).sum(1);
        // r at or just above the kept mass (rounding): the last token of the nucleus, as the host takes it.
        Tensor last = (inNucleus.to(ScalarType.Int64) * arange(Scalars.Zero, end, Scalars.One, ScalarType.Int64, logits.device)).max(1).values;
        return chosen.minimum(last).MoveToOuterDisposeScope();
    }
}
