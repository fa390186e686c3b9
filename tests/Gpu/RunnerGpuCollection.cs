namespace PagedSim.Gpu.Tests;

/// <summary>The runner's GPU tests run one after another: each needs most of the GPU's memory.</summary>
[CollectionDefinition(Name)]
public sealed class RunnerGpuCollection
{
    public const string Name = "runner on the GPU";
}
