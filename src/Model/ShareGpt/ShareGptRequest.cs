namespace PagedSim.Model.ShareGpt;

/// <summary>One request taken from a ShareGPT conversation (the seed's rule): the first message is the user turn, the
/// second, when present, the recorded answer.</summary>
/// <param name="Id">The conversation's id.</param>
/// <param name="Prompt">The first message's text, sent as the user turn.</param>
/// <param name="Answer">The second message's text, or null when the conversation has a single message.</param>
public sealed record ShareGptRequest(string Id, string Prompt, string? Answer);
