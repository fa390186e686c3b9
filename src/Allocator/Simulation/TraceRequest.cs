namespace PagedSim.Allocator.Simulation;

/// <summary>One request of a trace: how many tokens its prompt has and how many it generates; for prefix caching its
/// prompt's token ids; for a multi-turn conversation, which one and which turn.</summary>
/// <param name="Id">The request's id (ShareGPT conversation id, with "_tK" for turn K of a multi-turn trace, or a synthetic one).</param>
/// <param name="PromptTokens">Tokens of the chat-formatted prompt (BOS, header, content, eot, assistant header).</param>
/// <param name="OutputTokens">Tokens generated: the recorded answer's tokens plus the closing <c>&lt;|eot_id|&gt;</c>.</param>
/// <param name="PromptIds">The prompt's token ids (<paramref name="PromptTokens"/> of them), or null when the trace
/// holds lengths only.</param>
/// <param name="Conversation">The conversation this request is a turn of, or null.</param>
/// <param name="Turn">Its turn in <paramref name="Conversation"/>, from 1 (0 when not a turn of a conversation).</param>
public sealed record TraceRequest(string Id, int PromptTokens, int OutputTokens, int[]? PromptIds = null, string? Conversation = null, int Turn = 0)
{
    /// <summary>Prompt plus output: the sequence length the request reaches.</summary>
    public int TotalTokens => PromptTokens + OutputTokens;
}
