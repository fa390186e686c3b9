namespace PagedSim.Model.Generation;

/// <summary>Settings of one <see cref="BatchGenerator.Generate"/> call.</summary>
/// <param name="Sampling">Greedy when null.</param>
/// <param name="Prefill">How prompts enter the cache.</param>
/// <param name="RecordLogits">Return the logits of every step (for tests and comparisons; costs a copy per step).</param>
public sealed record GenerationOptions(SamplingOptions? Sampling = null, PrefillMode Prefill = PrefillMode.Whole, bool RecordLogits = false);
