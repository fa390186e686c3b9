namespace PagedSim.Model.Generation;

/// <summary>One prompt to continue.</summary>
/// <param name="Prompt">Token ids (at least one).</param>
/// <param name="MaxNewTokens">Most tokens to generate (a stop token counts, but is not returned).</param>
/// <param name="StopTokens">Ids that end this request (e.g. the tokenizer's end-of-turn ids); none when null.</param>
public sealed record GenerationRequest(IReadOnlyList<int> Prompt, int MaxNewTokens, IReadOnlySet<int>? StopTokens = null);
