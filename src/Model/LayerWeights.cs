using static TorchSharp.torch;

namespace PagedSim.Model;

/// <summary>
/// One transformer layer's weights, fused for few kernel launches: q, k and v projections stacked into one matrix
/// (one matmul), and the SwiGLU gate (w1) and up (w3) projections likewise.
/// </summary>
/// <param name="AttentionNorm">RMSNorm weight before attention [dim].</param>
/// <param name="Wqkv">[wq; wk; wv] stacked by rows: [(heads + 2·kvHeads)·headDim, dim].</param>
/// <param name="Wo">Attention output projection [dim, heads·headDim].</param>
/// <param name="FfnNorm">RMSNorm weight before the FFN [dim].</param>
/// <param name="W13">[w1; w3] stacked by rows: [2·hidden, dim].</param>
/// <param name="W2">FFN down projection [dim, hidden].</param>
public sealed record LayerWeights(Tensor AttentionNorm, Tensor Wqkv, Tensor Wo, Tensor FfnNorm, Tensor W13, Tensor W2) : IDisposable
{
    /// <inheritdoc/>
    public void Dispose()
    {
        AttentionNorm.Dispose();
        Wqkv.Dispose();
        Wo.Dispose();
        FfnNorm.Dispose();
        W13.Dispose();
        W2.Dispose();
    }
}
