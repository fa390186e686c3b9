namespace PagedSim.Allocator.Simulation;

/// <summary>One measured decode step (<c>bench-step</c>, back to back): <paramref name="Batch"/> sequences that each
/// hold <paramref name="Context"/> tokens before the step, <paramref name="Seconds"/> a step.</summary>
/// <param name="Batch">Sequences in the pass.</param>
/// <param name="Context">Tokens in each sequence's cache before the step (it reads one more: its new token).</param>
/// <param name="Seconds">Seconds a step.</param>
public sealed record DecodePoint(int Batch, int Context, double Seconds);
