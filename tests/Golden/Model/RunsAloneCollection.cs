using Xunit;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// Tests that run by themselves, after the parallel ones: those that measure the process's memory, and those that
/// force collections on another thread (which would make TorchSharp's own temporaries in concurrently running tests
/// far likelier to be freed mid-call).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAloneCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Runs alone";
}
