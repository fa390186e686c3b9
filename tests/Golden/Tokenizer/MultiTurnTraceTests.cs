using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Tokenizer;

/// <summary>
/// <c>trace --multi-turn</c>: the committed multi-turn fixture is what the command writes; every first turn equals the
/// single-turn trace's request (built independently, one user message); each turn's prompt ids and answer are a token
/// prefix of the next turn's prompt, which continues with the closing eot and a user header.
/// </summary>
public sealed class MultiTurnTraceTests
{
    private const int BeginOfText = 128000, StartHeader = 128006, Eot = 128009;

    private static Trace Committed { get; } = TraceFile.Read(Fixtures.Path("sharegpt-multiturn.trace.json"), 8192);

    [Fact]
    public void Trace_command_writes_the_same_file_as_committed()
    {
        using var temp = new TempFiles();
        string outPath = temp.PathOf("multi.json");
        var console = new StringWriter();

        int rc = TraceCommand.RunMultiTurn(Fixtures.Path("sharegpt-filtered.json"), Fixtures.Path("llama3/tokenizer.model"), outPath, 0, console);

        Assert.Equal(0, rc);
        Assert.Equal(File.ReadAllText(Fixtures.Path("sharegpt-multiturn.trace.json")), File.ReadAllText(outPath));
        // 673 messages in 99 non-empty conversations: 324 answered user turns and 25 trailing user messages.
        Assert.StartsWith("324 turns of 99 conversations from sharegpt-filtered.json (up to 9 turns; 25 unanswered, 0 over 8192 tokens left out", console.ToString());
    }

    [Fact]
    public void First_turns_are_the_single_turn_trace()
    {
        Trace single = TraceFile.Read(Fixtures.Path("sharegpt-llama3.trace.json"), 8192);
        var first = Committed.Requests.Where(r => r.Turn == 1).ToDictionary(r => r.Conversation!);
        Assert.Equal(single.Requests.Count, first.Count);
        foreach (TraceRequest r in single.Requests)
        {
            Assert.Equal(r.PromptTokens, first[r.Id].PromptTokens);
            Assert.Equal(r.OutputTokens, first[r.Id].OutputTokens);
        }
    }

    [Fact]
    public void Each_turn_extends_the_previous_turn_and_its_answer()
    {
        Assert.Equal(0, Committed.ThinkSteps);
        var turns = Committed.Requests.ToDictionary(r => (r.Conversation!, r.Turn));
        int checkedPairs = 0;
        foreach (TraceRequest r in Committed.Requests)
        {
            Assert.Equal(BeginOfText, r.PromptIds![0]);
            if (!turns.TryGetValue((r.Conversation!, r.Turn + 1), out TraceRequest? next)) continue;
            int[] prompt = r.PromptIds, following = next.PromptIds!;
            Assert.Equal(prompt, following[..prompt.Length]);
            int answerEnd = prompt.Length + r.OutputTokens; // the answer's tokens, then its closing eot
            Assert.Equal(Eot, following[answerEnd - 1]);
            Assert.Equal(StartHeader, following[answerEnd]);
            checkedPairs++;
        }
        Assert.Equal(324 - 99, checkedPairs);
    }

    [Fact]
    public void Turns_arrive_after_the_previous_turn_of_their_conversation()
    {
        int[] after = TraceArrivals.Predecessors(Committed.Requests, Committed.ThinkSteps);
        for (int i = 0; i < after.Length; i++)
        {
            TraceRequest r = Committed.Requests[i];
            if (r.Turn == 1) Assert.Equal(-1, after[i]);
            else Assert.Equal((r.Conversation, r.Turn - 1), (Committed.Requests[after[i]].Conversation, Committed.Requests[after[i]].Turn));
        }
        Assert.All(TraceArrivals.Predecessors(Committed.Requests, null), a => Assert.Equal(-1, a));
    }
}
