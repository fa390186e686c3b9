using TorchSharp;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PagedSim.Model.Kernels;

/// <summary>
/// The layer operations as plain TorchSharp operations, on any device and dtype: the reference the fused kernels
/// are checked against, and the CPU path (float32, compared with Hugging Face transformers).
/// </summary>
public sealed class EagerKernels : ILayerKernels
{
    /// <summary>The one instance (stateless).</summary>
    public static EagerKernels Instance { get; } = new();

    /// <inheritdoc/>
    public string Name => "eager";

    /// <inheritdoc/>
    public Tensor Linear(Tensor input, Tensor weight) => F.linear(input, weight);

    /// <inheritdoc/>
    public void AddRmsNorm(Tensor residual, Tensor? delta, Tensor weight, double eps, Tensor output)
    {
        using var scope = NewDisposeScope();
        using Scalar epsilon = eps.ToScalar(); // held for the call: see Scalars
        if (delta is not null) residual.add_(delta, Scalars.One);
        Tensor xf = residual.to(ScalarType.Float32);
        Tensor normed = xf * rsqrt(xf.mul(xf).mean([-1], keepdim: true).add_(epsilon, Scalars.One));
        output.copy_(normed.to(residual.dtype) * weight);
    }

    /// <inheritdoc/>
    public void RopeAndCacheWrite(Tensor qkv, RotaryEmbedding rope, KvStep step, IKvCache cache, int layer, Llama3Config config, Tensor query)
    {
        using var scope = NewDisposeScope();
        long tokens = qkv.shape[0];
        int qSize = config.Heads * config.HeadDim, kvSize = config.KvHeads * config.HeadDim;
        // RotaryEmbedding works on [batch, len, heads, headDim]; one token per "batch row" here.
        Tensor cis = rope.For(step.Positions.reshape(tokens, 1));
        Tensor q = qkv.narrow(1, 0, qSize).view(tokens, 1, config.Heads, config.HeadDim);
        Tensor k = qkv.narrow(1, qSize, kvSize).view(tokens, 1, config.KvHeads, config.HeadDim);
        Tensor v = qkv.narrow(1, qSize + kvSize, kvSize).view(tokens, 1, config.KvHeads, config.HeadDim);
        KvWrite.Write(cache, layer, step, RotaryEmbedding.Apply(k, cis), v);
        query.view(tokens, 1, config.Heads, config.HeadDim).copy_(RotaryEmbedding.Apply(q, cis));
    }

    /// <inheritdoc/>
    public void SiluMul(Tensor gateUp, Tensor output)
    {
        using var scope = NewDisposeScope();
        long hidden = gateUp.shape[1] / 2;
        output.copy_(F.silu(gateUp.narrow(1, 0, hidden)) * gateUp.narrow(1, hidden, hidden));
    }

    /// <inheritdoc/>
    public Tensor Argmax(Tensor logits) => logits.argmax(-1);
}
