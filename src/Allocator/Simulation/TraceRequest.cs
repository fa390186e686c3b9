namespace PagedSim.Allocator.Simulation;

/// <summary>One request of a length trace: how many tokens its prompt has and how many it generates.</summary>
/// <param name="Id">The request's id (ShareGPT conversation id, or a synthetic one).</param>
/// <param name="PromptTokens">Tokens of the chat-formatted prompt (BOS, header, content, eot, assistant header).</param>
/// <param name="OutputTokens">Tokens generated: the recorded answer's tokens plus the closing <c>&lt;|eot_id|&gt;</c>.</param>
public sealed record TraceRequest(string Id, int PromptTokens, int OutputTokens)
{
    /// <summary>Prompt plus output: the sequence length the request reaches.</summary>
    public int TotalTokens => PromptTokens + OutputTokens;
}
