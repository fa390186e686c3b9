namespace PagedSim.Model.Generation;

/// <summary>What one request produced.</summary>
/// <param name="Tokens">Generated ids, without the stop token.</param>
/// <param name="Reason">Why generation ended.</param>
/// <param name="StopToken">The stop token produced, when <paramref name="Reason"/> is <see cref="FinishReason.Stop"/>.</param>
/// <param name="Logits">When requested: the float32 logits [vocab] that chose each token (including the stop token).</param>
public sealed record GenerationResult(IReadOnlyList<int> Tokens, FinishReason Reason, int? StopToken, IReadOnlyList<float[]>? Logits);
