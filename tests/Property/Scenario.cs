namespace PagedSim.Property.Tests;

/// <summary>A small cache configuration and the steps to replay against it.</summary>
public sealed record Scenario(int NumBlocks, int BlockSize, int MaxSequenceLength, int Seed, Op[] Ops)
{
    public override string ToString() =>
        $"Scenario(blocks {NumBlocks}, block size {BlockSize}, max length {MaxSequenceLength}, seed {Seed}): "
        + $"[{string.Join(", ", Ops.Select(o => o.ToString()))}]";
}
