namespace PagedSim.Property.Tests;

/// <summary>What the model says a step must do: succeed, run out of blocks (with the figures), or reject its arguments.</summary>
internal readonly record struct Expected(ExpectedKind Kind, int Needed = 0, int Free = 0)
{
    public static Expected Ok => new(ExpectedKind.Ok);

    public static Expected Invalid => new(ExpectedKind.Invalid);

    public static Expected OutOfBlocks(int needed, int free) => new(ExpectedKind.OutOfBlocks, needed, free);
}
