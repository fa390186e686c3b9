namespace PagedSim.Allocator.Simulation;

/// <summary>How requests are batched.</summary>
public enum SimulationMode
{
    /// <summary>The seed's experiment: all requests start together and decode to their ends.</summary>
    Static,

    /// <summary>Continuous batching: a waiting queue, admission with a watermark, preemption by recompute.</summary>
    Continuous,
}
