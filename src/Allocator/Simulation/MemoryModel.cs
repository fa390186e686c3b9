namespace PagedSim.Allocator.Simulation;

/// <summary>
/// How one GPU's memory divides between weights, overheads and KV cache, for a model, a GPU size, an element type
/// and a tensor-parallel degree (each of <see cref="TensorParallel"/> GPUs of this size holds a shard).
/// </summary>
/// <param name="Model">The architecture.</param>
/// <param name="Gpu">One GPU.</param>
/// <param name="DType">Element type of weights and KV cache: bf16, fp16, fp32 or fp8.</param>
/// <param name="TensorParallel">GPUs the model is split across.</param>
/// <param name="Overhead">Non-weight, non-KV memory.</param>
public sealed record MemoryModel(ModelSpec Model, GpuSpec Gpu, string DType, int TensorParallel, OverheadModel Overhead)
{
    /// <summary>Element types and their sizes.</summary>
    public static IReadOnlyDictionary<string, int> DTypes { get; } =
        new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase) { ["bf16"] = 2, ["fp16"] = 2, ["fp32"] = 4, ["fp8"] = 1 };

    /// <summary>Bytes per weight and per KV element.</summary>
    public int ElementBytes => DTypes.TryGetValue(DType, out int b) ? b
        : throw new ArgumentException($"Unknown dtype \"{DType}\"; known: {string.Join(", ", DTypes.Keys)}.", nameof(DType));

    /// <summary>Weight bytes on one GPU.</summary>
    public long WeightBytes => Model.ParametersPerShard(TensorParallel) * ElementBytes;

    /// <summary>KV layout of one GPU's shard.</summary>
    public KvLayout Layout => Model.KvLayout(ElementBytes, TensorParallel);

    /// <summary>Overhead bytes for a step of <paramref name="tokensPerStep"/> tokens over <paramref name="sequences"/> sequences.</summary>
    public long OverheadBytes(long tokensPerStep, long sequences) =>
        Overhead.Bytes(Model, ElementBytes, TensorParallel, tokensPerStep, sequences);

    /// <summary>Bytes left for KV cache (negative when weights and overhead alone do not fit).</summary>
    public long KvBudgetBytes(long tokensPerStep, long sequences) =>
        Gpu.TotalMemoryBytes - WeightBytes - OverheadBytes(tokensPerStep, sequences);

    /// <summary>Paged blocks of <paramref name="blockSize"/> tokens that fit in the KV budget.</summary>
    public int PagedBlocks(int blockSize, long tokensPerStep, long sequences)
    {
        long budget = KvBudgetBytes(tokensPerStep, sequences);
        return budget <= 0 ? 0 : (int)Math.Min(int.MaxValue / 2, budget / Layout.BytesPerBlock(blockSize));
    }

    /// <summary>Token slots that fit in the KV budget (for contiguous reservations).</summary>
    public long NaiveSlots(long tokensPerStep, long sequences)
    {
        long budget = KvBudgetBytes(tokensPerStep, sequences);
        return budget <= 0 ? 0 : budget / Layout.BytesPerToken;
    }
}
