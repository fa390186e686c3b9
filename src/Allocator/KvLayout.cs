namespace PagedSim.Allocator;

/// <summary>
/// The shape of one token's key/value state across the whole model: what turns token and block counts into bytes.
/// </summary>
/// <param name="Layers">Transformer layers; every layer stores K and V for each token.</param>
/// <param name="KvHeads">Key/value heads per layer (fewer than query heads under grouped-query attention).</param>
/// <param name="HeadDim">Elements per head.</param>
/// <param name="BytesPerElement">2 for bf16/fp16, 4 for fp32, 1 for fp8.</param>
public sealed record KvLayout(int Layers, int KvHeads, int HeadDim, int BytesPerElement)
{
    /// <summary>Llama 3 8B in bf16: 32 layers, 8 KV heads of 128, 2 bytes: 131,072 bytes per token.</summary>
    public static KvLayout Llama3_8B { get; } = new(32, 8, 128, 2);

    /// <summary>Bytes one token occupies in the cache: 2 (K and V) × layers × KV heads × head dim × element bytes.</summary>
    public long BytesPerToken { get; } = Validate(Layers, KvHeads, HeadDim, BytesPerElement);

    /// <summary>Bytes one token occupies in a single layer's K and V.</summary>
    public long BytesPerTokenPerLayer => BytesPerToken / Layers;

    /// <summary>Bytes of one block of <paramref name="blockSize"/> token slots across all layers.</summary>
    public long BytesPerBlock(int blockSize) => BytesPerToken * blockSize;

    private static long Validate(int layers, int kvHeads, int headDim, int bytesPerElement)
    {
        if (layers <= 0) throw new ArgumentOutOfRangeException(nameof(layers), layers, "Layers must be positive.");
        if (kvHeads <= 0) throw new ArgumentOutOfRangeException(nameof(kvHeads), kvHeads, "KV heads must be positive.");
        if (headDim <= 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "Head dim must be positive.");
        if (bytesPerElement <= 0) throw new ArgumentOutOfRangeException(nameof(bytesPerElement), bytesPerElement, "Bytes per element must be positive.");
        return 2L * layers * kvHeads * headDim * bytesPerElement;
    }
}
