using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Kernels;

/// <summary>
/// The operations of a Llama 3 layer between its matmuls: residual add with RMSNorm, RoPE with the KV-cache write,
/// and SwiGLU's gate. <see cref="EagerKernels"/> composes plain TorchSharp operations (any device; the reference);
/// <see cref="FusedCudaKernels"/> does each in one native launch (CUDA, bf16/fp16). A decode step is bound by how many
/// operations it queues, not by the GPU, so the fused set is what makes it fast. Tokens are flattened: every tensor
/// here is [tokens, …], the batch's rows one after another. Results go into caller-owned contiguous buffers that a
/// forward pass allocates once and reuses in every layer.
/// </summary>
public interface ILayerKernels
{
    /// <summary>A short name for logs and the command line ("eager", "fused").</summary>
    string Name { get; }

    /// <summary><paramref name="input"/> [tokens, in] · <paramref name="weight"/> [out, in]ᵀ → a new [tokens, out] (a linear layer without bias).</summary>
    Tensor Linear(Tensor input, Tensor weight);

    /// <summary>
    /// <paramref name="residual"/> [tokens, dim] += <paramref name="delta"/> (when given), in place; writes
    /// RMSNorm(residual) · <paramref name="weight"/> into <paramref name="output"/> [tokens, dim], normalised in
    /// float32 as Meta does.
    /// </summary>
    void AddRmsNorm(Tensor residual, Tensor? delta, Tensor weight, double eps, Tensor output);

    /// <summary>
    /// <paramref name="qkv"/> [tokens, (heads + 2·kvHeads)·headDim] (q, k, v per row): rotates q and k by
    /// <paramref name="rope"/> at <see cref="KvStep.Positions"/>, writes k and v into layer <paramref name="layer"/>
    /// of <paramref name="cache"/> at <see cref="KvStep.Slots"/>, and writes the rotated q into
    /// <paramref name="query"/> (tokens·heads·headDim elements, contiguous).
    /// </summary>
    void RopeAndCacheWrite(Tensor qkv, RotaryEmbedding rope, KvStep step, IKvCache cache, int layer, Llama3Config config, Tensor query);

    /// <summary><paramref name="gateUp"/> [tokens, 2·hidden] (gate, then up) → silu(gate) · up into <paramref name="output"/> [tokens, hidden].</summary>
    void SiluMul(Tensor gateUp, Tensor output);

    /// <summary>
    /// Greedy decoding's choice: int64 [rows], the index of each row's largest logit in <paramref name="logits"/>
    /// [rows, vocab] (the first among equals, as <c>argmax</c>), in the logits' own dtype (no float32 copy).
    /// </summary>
    Tensor Argmax(Tensor logits);
}
