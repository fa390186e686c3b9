namespace PagedSim.Model.Tokenization;

/// <summary>One turn of a dialog.</summary>
/// <param name="Role">"system", "user" or "assistant".</param>
/// <param name="Content">The turn's text (leading/trailing white space is stripped when encoded).</param>
public sealed record ChatMessage(string Role, string Content);
