using PagedSim.Allocator.Simulation;
using PagedSim.Model.Tokenization;

namespace PagedSim.Model.ShareGpt;

/// <summary>
/// Turns whole ShareGPT conversations into a multi-turn trace: one request per user turn (messages 0, 2, 4, …) that
/// has a recorded answer (the next message). Its prompt is the Llama 3 chat format of every earlier message — user
/// and assistant alternating — plus the new user message and the assistant header (exactly
/// <see cref="ChatFormat.EncodeDialogPrompt"/> of that history), kept as token ids; its output length is the stripped
/// answer's tokens plus the closing <c>&lt;|eot_id|&gt;</c>. So turn K's prompt and answer are a token prefix of turn
/// K + 1's prompt. Requests are ordered turn by turn (every first turn, then every second turn, …), conversations in
/// file order within a turn; turn K + 1 arrives after turn K finishes (<see cref="TraceArrivals"/>).
/// </summary>
public static class ShareGptMultiTurnBuilder
{
    /// <summary>Builds the trace; turns longer than <paramref name="maxSequenceLength"/> (prompt plus output) end
    /// their conversation, and are counted in <see cref="MultiTurnTrace.DroppedTurns"/>.</summary>
    public static MultiTurnTrace Build(IReadOnlyList<ShareGptConversation> conversations, Llama3Tokenizer tokenizer, string source,
        long thinkSteps, int maxSequenceLength)
    {
        ArgumentNullException.ThrowIfNull(conversations);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfNegative(thinkSteps);
        var chat = new ChatFormat(tokenizer);
        int[] userHeader = [.. chat.EncodeHeader("user")], assistantHeader = [.. chat.EncodeHeader("assistant")];
        var turns = new List<(int Turn, int Conversation, TraceRequest Request)>();
        int dropped = 0, withoutAnswer = 0;
        for (int c = 0; c < conversations.Count; c++)
        {
            ShareGptConversation conversation = conversations[c];
            var history = new List<int> { tokenizer.BeginOfText };
            int pairs = conversation.Messages.Count / 2;
            withoutAnswer += conversation.Messages.Count % 2;
            for (int k = 0; k < pairs; k++)
            {
                history.AddRange(userHeader);
                history.AddRange(tokenizer.Encode(ChatFormat.StripPython(conversation.Messages[2 * k])));
                history.Add(tokenizer.EotId);
                history.AddRange(assistantHeader);
                int[] prompt = [.. history];
                IReadOnlyList<int> answer = tokenizer.Encode(ChatFormat.StripPython(conversation.Messages[2 * k + 1]));
                if ((long)prompt.Length + answer.Count + 1 > maxSequenceLength)
                {
                    dropped += pairs - k;
                    break;
                }
                turns.Add((k + 1, c, new TraceRequest($"{conversation.Id}_t{k + 1}", prompt.Length, answer.Count + 1, prompt, conversation.Id, k + 1)));
                history.AddRange(answer);
                history.Add(tokenizer.EotId);
            }
        }
        TraceRequest[] requests = [.. turns.OrderBy(t => t.Turn).ThenBy(t => t.Conversation).Select(t => t.Request)];
        return new MultiTurnTrace(new Trace(requests, source, thinkSteps), conversations.Count, dropped, withoutAnswer);
    }
}
