using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace PagedSim.Model;

/// <summary>
/// Llama 3, forward pass readable top to bottom: embed → for each layer (RMSNorm, fused qkv, RoPE, cache write,
/// attention, output projection, residual, RMSNorm, fused SwiGLU, residual) → RMSNorm → output head. Works on a
/// batch of sequences that each append the same number of tokens (a prefill of equal-length prompts, or one decode
/// token each); positions and cache slots come from the cache's <see cref="KvStep"/>.
/// </summary>
public sealed class Llama3 : IDisposable
{
    private readonly RotaryEmbedding _rope;

    /// <summary>Wraps loaded weights; <paramref name="maxPositions"/> bounds sequence length (RoPE table).</summary>
    public Llama3(Llama3Config config, Llama3Weights weights, Device device, ScalarType dtype, int maxPositions = 8192)
    {
        Config = config;
        Weights = weights;
        Device = device;
        DType = dtype;
        _rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, maxPositions, device);
    }

    /// <summary>Model shape.</summary>
    public Llama3Config Config { get; }

    /// <summary>Weights, on <see cref="Device"/> in <see cref="DType"/>.</summary>
    public Llama3Weights Weights { get; }

    /// <summary>Where the weights and activations live.</summary>
    public Device Device { get; }

    /// <summary>Compute dtype (and the KV cache's): float32 on the CPU, bf16 on the GPU by default.</summary>
    public ScalarType DType { get; }

    /// <summary>Longest sequence the RoPE table covers.</summary>
    public int MaxPositions => _rope.MaxPositions;

    /// <summary>
    /// Loads a checkpoint directory (Meta or Hugging Face layout). <paramref name="dtype"/> defaults to float32 on the
    /// CPU and bf16 elsewhere.
    /// </summary>
    public static Llama3 Load(string directory, Device? device = null, ScalarType? dtype = null, int maxPositions = 8192)
    {
        device ??= CPU;
        ScalarType type = dtype ?? (device.type == DeviceType.CPU ? ScalarType.Float32 : ScalarType.BFloat16);
        (Llama3Config config, Llama3Weights weights) = Llama3Weights.Load(directory, device, type);
        return new Llama3(config, weights, device, type, maxPositions);
    }

    /// <summary>
    /// One forward pass: <paramref name="tokens"/> int64 [batch, len] are the new tokens of each sequence of
    /// <paramref name="step"/>; their K/V are written into <paramref name="cache"/>. Returns float32 logits
    /// [batch, vocab] of each sequence's last position. Call inside a dispose scope.
    /// </summary>
    public Tensor Forward(Tensor tokens, IKvCache cache, KvStep step, IAttentionBackend attention)
    {
        Llama3Config c = Config;
        long batch = tokens.shape[0], len = tokens.shape[1];
        if (batch != step.BatchSize || len != step.QueryLength)
            throw new ArgumentException($"Tokens [{batch}, {len}] do not match the step [{step.BatchSize}, {step.QueryLength}].", nameof(tokens));
        if (step.MaxSequenceLength > MaxPositions)
            throw new ArgumentException($"Sequence length {step.MaxSequenceLength} exceeds the {MaxPositions} positions of the RoPE table.", nameof(step));
        int qSize = c.Heads * c.HeadDim, kvSize = c.KvHeads * c.HeadDim;
        double scale = 1.0 / Math.Sqrt(c.HeadDim);

        Tensor x = Weights.Embedding.index_select(0, tokens.reshape(-1)).view(batch, len, c.Dim);
        Tensor cis = _rope.For(step.Positions);
        for (int l = 0; l < c.Layers; l++)
        {
            LayerWeights w = Weights.Layers[l];
            // Each layer's temporaries are freed when the layer ends; otherwise a long prompt's activations stay
            // allocated for every layer until the pass ends (about 19 GB for 2,589 tokens of Llama 3 8B).
            using DisposeScope layer = NewDisposeScope();
            Tensor input = x;

            // Attention: fused qkv projection, RoPE on q and k, new K/V into the cache, attention over the cache.
            Tensor h = RmsNorm(x, w.AttentionNorm);
            Tensor qkv = F.linear(h, w.Wqkv);
            Tensor q = qkv.narrow(2, 0, qSize).view(batch, len, c.Heads, c.HeadDim);
            Tensor k = qkv.narrow(2, qSize, kvSize).view(batch, len, c.KvHeads, c.HeadDim);
            Tensor v = qkv.narrow(2, qSize + kvSize, kvSize).view(batch, len, c.KvHeads, c.HeadDim);
            q = RotaryEmbedding.Apply(q, cis).contiguous();
            k = RotaryEmbedding.Apply(k, cis);
            KvWrite.Write(cache, l, step, k, v);
            Tensor attn = empty_like(q);
            attention.Forward(new AttentionInputs(q, cache.Keys(l), cache.Values(l), cache.Kind, step.BlockTable,
                step.SequenceLengths, step.MaxSequenceLength, Causal: true, scale), attn);
            x = x + F.linear(attn.view(batch, len, qSize), w.Wo);

            // Feed-forward: SwiGLU with gate (w1) and up (w3) fused in one matmul.
            h = RmsNorm(x, w.FfnNorm);
            Tensor gateUp = F.linear(h, w.W13);
            Tensor gate = gateUp.narrow(2, 0, c.HiddenDim), up = gateUp.narrow(2, c.HiddenDim, c.HiddenDim);
            x = layer.MoveToOuter(x + F.linear(F.silu(gate) * up, w.W2));
            if (l > 0) input.Dispose(); // the previous layer's output
        }
        Tensor last = x.select(1, len - 1);                           // only the last position's logits are needed
        return F.linear(RmsNorm(last, Weights.Norm), Weights.Output).to(ScalarType.Float32);
    }

    /// <summary>x · rsqrt(mean(x²) + eps) · w, normalised in float32 as Meta does, then back to x's dtype.</summary>
    private Tensor RmsNorm(Tensor x, Tensor weight)
    {
        Tensor xf = x.to(ScalarType.Float32);
        Tensor normed = xf * rsqrt(xf.pow(2).mean([-1], keepdim: true) + Config.NormEps);
        return normed.to(x.dtype) * weight;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _rope.Dispose();
        Weights.Dispose();
    }
}
