namespace PagedSim.Allocator.Scheduling;

/// <summary>What one <see cref="Scheduler.Advance"/> (or <see cref="StaticBatch.Advance"/>) covered.</summary>
/// <param name="Step">The last step advanced over (steps count from 1).</param>
/// <param name="Steps">Steps advanced over; all but the last were quiet (every running request gained a token,
/// nothing else happened).</param>
/// <param name="Admitted">Requests that started (prefill) in the last step.</param>
/// <param name="Preempted">Requests preempted in the last step; they wait to be recomputed.</param>
/// <param name="Finished">Requests that produced their last token in the last step; their blocks return at the start
/// of the next advance.</param>
public readonly record struct SchedulerStep(long Step, long Steps, int Admitted, int Preempted, int Finished);
