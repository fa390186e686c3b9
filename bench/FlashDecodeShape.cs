namespace PagedSim.Bench;

/// <summary>A decode batch for <see cref="FlashDecodeBenchmarks"/>: sequences x context tokens each.</summary>
public sealed record FlashDecodeShape(int Batch, int Context)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Batch}x{Context}";
}
