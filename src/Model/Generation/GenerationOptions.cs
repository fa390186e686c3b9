namespace PagedSim.Model.Generation;

/// <summary>Settings of one <see cref="BatchGenerator.Generate"/> call.</summary>
/// <param name="Sampling">Greedy when null.</param>
/// <param name="Prefill">How prompts enter the cache.</param>
/// <param name="RecordLogits">Return the logits of every step (for tests and comparisons; costs a copy per step).</param>
/// <param name="MaxPrefillTokens">Most prompt tokens one whole-prompt prefill pass takes (equal-length prompts share a
/// pass up to this; a longer prompt still goes whole). The simulator sizes a step's activations with the same limit
/// (<c>SchedulerOptions.MaxTokensPerStep</c>, 8,192 by default).</param>
public sealed record GenerationOptions(SamplingOptions? Sampling = null, PrefillMode Prefill = PrefillMode.Whole, bool RecordLogits = false,
    int MaxPrefillTokens = 8192);
