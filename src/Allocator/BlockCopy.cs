namespace PagedSim.Allocator;

/// <summary>
/// A copy-on-write the caller must carry out before writing new tokens: copy the KV contents of physical block
/// <see cref="Source"/> (all layers) into <see cref="Destination"/>. <see cref="None"/> when nothing is to copy.
/// </summary>
public readonly record struct BlockCopy(int Source, int Destination)
{
    /// <summary>No copy needed.</summary>
    public static BlockCopy None => new(-1, -1);

    /// <summary>True when a copy must be made.</summary>
    public bool IsNeeded => Source >= 0;
}
