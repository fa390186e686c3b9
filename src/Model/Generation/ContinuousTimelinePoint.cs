namespace PagedSim.Model.Generation;

/// <summary>The batch after one step of a continuous-batching run.</summary>
/// <param name="Step">The step (from 1).</param>
/// <param name="Seconds">From the start of the run to the end of the step.</param>
/// <param name="Running">Requests in the batch this step (those that finished in it included).</param>
/// <param name="Waiting">Requests waiting to start or to be recomputed.</param>
/// <param name="UsedBlocks">Blocks in use during the step.</param>
/// <param name="Admitted">Requests admitted (prefilled) in the step.</param>
/// <param name="Preempted">Requests preempted in the step.</param>
public readonly record struct ContinuousTimelinePoint(long Step, double Seconds, int Running, int Waiting, int UsedBlocks, int Admitted, int Preempted);
