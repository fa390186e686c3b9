namespace PagedSim.Model.Generation;

/// <summary>What one request produced in a continuous-batching run, and when.</summary>
/// <param name="Tokens">Generated ids, without the stop token.</param>
/// <param name="Reason">Why generation ended.</param>
/// <param name="StopToken">The stop token produced, when <paramref name="Reason"/> is <see cref="FinishReason.Stop"/>.</param>
/// <param name="QueueSeconds">From its arrival to the start of the step that first admitted it.</param>
/// <param name="FirstTokenSeconds">From its arrival to the end of the step that produced its first token (TTFT).</param>
/// <param name="FinishSeconds">From its arrival to the end of the step that produced its last token.</param>
/// <param name="AdmittedStep">The step that first admitted it (steps count from 1).</param>
/// <param name="FinishedStep">The step that produced its last token.</param>
/// <param name="Preemptions">Times it was preempted (its blocks freed) and later recomputed.</param>
/// <param name="ArrivalSeconds">When it arrived, from the start of the run: 0, or for a later turn of a conversation
/// the start of the step it arrived in.</param>
public sealed record ContinuousRequestResult(
    IReadOnlyList<int> Tokens, FinishReason Reason, int? StopToken, double QueueSeconds, double FirstTokenSeconds,
    double FinishSeconds, long AdmittedStep, long FinishedStep, int Preemptions, double ArrivalSeconds = 0)
{
    /// <summary>Tokens produced, the stop token included.</summary>
    public int ProducedTokens => Tokens.Count + (StopToken is null ? 0 : 1);

    /// <summary>Time per output token after the first (0 when it produced one token).</summary>
    public double SecondsPerOutputToken => ProducedTokens > 1 ? (FinishSeconds - FirstTokenSeconds) / (ProducedTokens - 1) : 0;
}
