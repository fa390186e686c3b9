namespace PagedSim.Golden.Tests.Simulation;

/// <summary>Tests that capture <see cref="Console.Out"/> (where <c>simulate</c> prints) run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCaptureCollection
{
    public const string Name = "captures Console.Out";
}
