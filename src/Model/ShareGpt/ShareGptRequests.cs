namespace PagedSim.Model.ShareGpt;

/// <summary>The requests of a ShareGPT file, in file order.</summary>
/// <param name="Requests">One per conversation with at least one message.</param>
/// <param name="Conversations">Conversations in the file, empty ones included.</param>
public sealed record ShareGptRequests(IReadOnlyList<ShareGptRequest> Requests, int Conversations)
{
    /// <summary>Conversations without messages, which give no request.</summary>
    public int EmptyConversations => Conversations - Requests.Count;
}
