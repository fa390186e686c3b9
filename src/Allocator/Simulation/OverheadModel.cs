namespace PagedSim.Allocator.Simulation;

/// <summary>
/// GPU memory that is neither weights nor KV cache: a fixed part (CUDA context, cuBLAS workspaces, allocator slack)
/// plus per-step transients that grow with the tokens of one forward pass and with the batch (logits).
/// </summary>
/// <param name="FixedBytes">CUDA context, library workspaces and allocator slack.</param>
/// <param name="LogitsBytesPerElement">Bytes of one logit (fp32 logits before sampling).</param>
/// <remarks>
/// The default fixed part, 1 GiB, lies inside the window the seed's observation allows on its RTX 4090 (naive
/// batch 7 fits, 8 does not): more than 0.74 GB and at most 1.82 GB is left beside weights and 7 GiB of cache.
/// </remarks>
public sealed record OverheadModel(long FixedBytes = OverheadModel.DefaultFixedBytes, int LogitsBytesPerElement = 4)
{
    /// <summary>1 GiB: see the remarks.</summary>
    public const long DefaultFixedBytes = 1L << 30;

    /// <summary>The default model.</summary>
    public static OverheadModel Default { get; } = new();

    /// <summary>
    /// Live activations per token of one forward pass in an unfused implementation: the SwiGLU block holds three
    /// hidden-size tensors (silu(x·W1), x·W3 and their product) beside about three model-width tensors of the residual
    /// stream. The hidden part is split across tensor-parallel GPUs; the residual stream is replicated.
    /// </summary>
    public static long ActivationBytesPerToken(ModelSpec model, int elementBytes, int tp) =>
        (long)elementBytes * (3L * model.FfnHidden / tp + 3L * model.Dim);

    /// <summary>Bytes beside weights and KV cache for a forward pass over <paramref name="tokensPerStep"/> tokens
    /// that samples the next token of <paramref name="sequencesPerStep"/> sequences.</summary>
    public long Bytes(ModelSpec model, int elementBytes, int tp, long tokensPerStep, long sequencesPerStep) =>
        FixedBytes
        + ActivationBytesPerToken(model, elementBytes, tp) * tokensPerStep
        + (long)LogitsBytesPerElement * model.VocabSize * sequencesPerStep;
}
