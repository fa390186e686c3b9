namespace PagedSim.Allocator.ModelConfig;

/// <summary>
/// A Llama-family decoder as its checkpoint describes it (Meta's <c>params.json</c> or Hugging Face's
/// <c>config.json</c>, read by <see cref="LlamaConfigReader"/>): the shape, RoPE and context.
/// </summary>
/// <param name="Dim">Model (residual stream) width.</param>
/// <param name="Layers">Transformer layers.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads.</param>
/// <param name="VocabSize">Vocabulary size.</param>
/// <param name="HiddenDim">SwiGLU hidden width.</param>
/// <param name="NormEps">RMSNorm epsilon.</param>
/// <param name="RopeTheta">RoPE base frequency.</param>
/// <param name="TiedEmbeddings">The output head is the embedding; null when the file does not say (Meta's files never do).</param>
/// <param name="RopeScaling">Llama 3.1-style RoPE scaling, or null for plain RoPE.</param>
/// <param name="MaxPositions">The context length the checkpoint supports (131,072 for Llama 3.1/3.2/3.3).</param>
/// <param name="ModelType">Hugging Face's <c>model_type</c> (null for Meta's files).</param>
/// <param name="MultipleOf">Meta's <c>multiple_of</c> (null for Hugging Face's files).</param>
/// <param name="FfnDimMultiplier">Meta's <c>ffn_dim_multiplier</c>, when given.</param>
public sealed record LlamaArchitecture(
    int Dim, int Layers, int Heads, int KvHeads, int VocabSize, int HiddenDim, double NormEps, double RopeTheta,
    bool? TiedEmbeddings, RopeScaling? RopeScaling, int MaxPositions, string? ModelType = null, int? MultipleOf = null,
    double? FfnDimMultiplier = null)
{
    /// <summary>Elements per attention head.</summary>
    public int HeadDim => Dim / Heads;

    /// <summary>
    /// The FFN hidden size exactly as Meta's <c>FeedForward</c> computes it: 4·dim, two thirds of that (truncated),
    /// times ffn_dim_multiplier (truncated), rounded up to a multiple of multiple_of.
    /// Llama 3 8B: dim 4096, multiplier 1.3, multiple_of 1024 → 14336.
    /// </summary>
    public static int MetaHiddenDim(int dim, int multipleOf, double? ffnDimMultiplier)
    {
        int hidden = 4 * dim;
        hidden = (int)(2.0 * hidden / 3);
        if (ffnDimMultiplier is double m) hidden = (int)(m * hidden);
        return multipleOf * ((hidden + multipleOf - 1) / multipleOf);
    }
}
