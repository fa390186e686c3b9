using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// Prompt passes over a paged cache whose block size flash-attention's paged kernel cannot take (it needs multiples
/// of 256; vLLM's default is 16): copies each sequence's keys and values, block by block in table order, into one
/// contiguous buffer and runs flash-attention's contiguous path over it. A prompt pass already reads each of its keys
/// once per query tile, so one more read and write of them is small beside its matmuls; decode passes, where that copy
/// would double the bytes read, go to the paged decode kernel instead. Contiguous caches go straight to flash.
/// </summary>
public sealed class GatheredFlashAttention : IAttentionBackend, IDisposable
{
    private readonly FlashAttentionBackend _flash;

    /// <summary>Uses the library <see cref="FlashAttentionBackend"/> loads.</summary>
    /// <exception cref="FlashAttentionException">The library is missing or of another ABI version.</exception>
    public GatheredFlashAttention() => _flash = new FlashAttentionBackend();

    /// <inheritdoc/>
    public string Name => "flash (gathered)";

    /// <inheritdoc/>
    /// <exception cref="FlashAttentionException">Arguments flash-attention cannot take, or a CUDA failure.</exception>
    public void Forward(AttentionInputs inputs, Tensor output)
    {
        if (inputs.Kind != KvCacheKind.Paged)
        {
            _flash.Forward(inputs, output);
            return;
        }
        using var scope = NewDisposeScope();
        Tensor table = inputs.BlockTable;
        long batch = table.shape[0], blockSize = inputs.KeyCache.shape[1];
        long width = (inputs.MaxSequenceLength + blockSize - 1) / blockSize;
        // -1 (no block) reads block 0: those rows lie past the sequence's length, which flash never reads.
        Tensor ids = table.narrow(1, 0, width).to(ScalarType.Int64).clamp_min(Scalars.Zero).reshape(-1);
        Tensor Rows(Tensor cache) =>
            cache.index_select(0, ids).view(batch, width * blockSize, cache.shape[2], cache.shape[3]);
        using Scalar end = batch.ToScalar();
        Tensor rows = arange(Scalars.Zero, end, Scalars.One, ScalarType.Int32, table.device).view(batch, 1);
        _flash.Forward(inputs with { KeyCache = Rows(inputs.KeyCache), ValueCache = Rows(inputs.ValueCache), Kind = KvCacheKind.Contiguous, BlockTable = rows }, output);
    }

    /// <summary>Frees flash-attention's workspace.</summary>
    public void Dispose() => _flash.Dispose();
}
