using Xunit;

namespace PagedSim.Golden.Tests.Model;

/// <summary>Tests that measure the process's memory: run by themselves.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Process memory measurements";
}
