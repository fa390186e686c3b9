namespace PagedSim.Model.Generation;

/// <summary>What one forward pass of <see cref="BatchGenerator"/> did, reported before finished requests leave the cache.</summary>
/// <param name="Index">Pass number, from 0.</param>
/// <param name="IsPrefill">True for a prompt pass (several tokens per sequence, or the token-by-token prompt feed).</param>
/// <param name="BatchSize">Sequences in the pass.</param>
/// <param name="QueryLength">Tokens each sequence appended in the pass (a ragged prefill pass: the longest prompt's).</param>
/// <param name="Emitted">Generated tokens the pass produced (stop tokens included).</param>
/// <param name="Finished">Requests that finished in this pass (they leave the cache right after this report).</param>
/// <param name="Running">Requests still unfinished after the pass.</param>
/// <param name="LaunchSeconds">Host time until the forward pass returned (work queued; on a GPU it may still run).</param>
/// <param name="Seconds">Host time of the whole pass, including the device-to-host copy of the chosen tokens (a sync). Greedy
/// decode passes, whose successor is prepared while they run, count from the end of the previous pass to their own end.</param>
public sealed record GenerationStep(
    int Index, bool IsPrefill, int BatchSize, int QueryLength, int Emitted, int Finished, int Running,
    double LaunchSeconds, double Seconds);
