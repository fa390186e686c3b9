using PagedSim.Allocator.Simulation;
using PagedSim.Model.Tokenization;

namespace PagedSim.Model.ShareGpt;

/// <summary>
/// Turns ShareGPT requests into a length trace with Llama 3's tokenizer: <c>prompt_tokens</c> is the length of the
/// chat-formatted prompt of the user turn alone (<see cref="ChatFormat.EncodeDialogPrompt"/>, as the seed builds its
/// prompts); <c>output_tokens</c> is the token count of the stripped recorded answer (Python's <c>str.strip</c>) plus one for the closing
/// <c>&lt;|eot_id|&gt;</c>. A request without a recorded answer has no output length and is left out (and listed).
/// </summary>
public static class ShareGptTraceBuilder
{
    /// <summary>Tokenizes every request; <paramref name="source"/> names the trace's origin (e.g. the file name).</summary>
    public static ShareGptTrace Build(IReadOnlyList<ShareGptRequest> requests, Llama3Tokenizer tokenizer, string source)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var chat = new ChatFormat(tokenizer);
        var entries = new List<TraceRequest>(requests.Count);
        var skipped = new List<string>();
        var dialog = new ChatMessage[1];
        foreach (ShareGptRequest request in requests)
        {
            if (request.Answer is null)
            {
                skipped.Add(request.Id);
                continue;
            }
            dialog[0] = new ChatMessage("user", request.Prompt);
            int prompt = chat.EncodeDialogPrompt(dialog).Count;
            int output = tokenizer.Encode(ChatFormat.StripPython(request.Answer)).Count + 1;
            entries.Add(new TraceRequest(request.Id, prompt, output));
        }
        return new ShareGptTrace(new Trace(entries, source), skipped);
    }
}
