namespace PagedSim.Property.Tests;

/// <summary>The kinds of outcome <see cref="CacheModel.Predict"/> tells apart.</summary>
internal enum ExpectedKind
{
    Ok,
    OutOfBlocks,
    Invalid,
}
