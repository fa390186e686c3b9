namespace PagedSim.Model.ShareGpt;

/// <summary>A whole ShareGPT conversation: its id and every message's text, in order (user turns at even positions,
/// recorded answers at odd ones).</summary>
/// <param name="Id">The conversation's id.</param>
/// <param name="Messages">The messages' texts.</param>
public sealed record ShareGptConversation(string Id, IReadOnlyList<string> Messages);
