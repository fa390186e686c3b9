using System.Text.Json;
using PagedSim.Allocator.Simulation;
using PagedSim.Model.ShareGpt;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Tokenizer;

/// <summary>ShareGPT requests and their length trace, against lengths computed by tiktoken (golden.json).</summary>
public sealed class ShareGptTraceTests
{
    private static (string Id, int Prompt, int Output)[] GoldenLengths() =>
        GoldenTokens.Root.GetProperty("sharegpt_lengths").EnumerateArray()
            .Select(x => (x.GetProperty("id").GetString()!, x.GetProperty("prompt_tokens").GetInt32(), x.GetProperty("output_tokens").GetInt32()))
            .ToArray();

    [Fact]
    public void Fixture_gives_99_requests_from_100_conversations()
    {
        ShareGptRequests requests = ShareGptLoader.Load(Fixtures.Path("sharegpt-filtered.json"));

        Assert.Equal(100, requests.Conversations);
        Assert.Equal(99, requests.Requests.Count);
        Assert.Equal(1, requests.EmptyConversations);
        Assert.Equal("QWJhYvA_0", requests.Requests[0].Id);
        Assert.All(requests.Requests, r => Assert.NotNull(r.Answer));
    }

    [Fact]
    public void Built_trace_matches_tiktoken_lengths()
    {
        ShareGptRequests requests = ShareGptLoader.Load(Fixtures.Path("sharegpt-filtered.json"));

        ShareGptTrace built = ShareGptTraceBuilder.Build(requests.Requests, GoldenTokens.Tokenizer, "sharegpt-filtered.json");

        Assert.Empty(built.SkippedWithoutAnswer);
        Assert.Equal(GoldenLengths(), built.Trace.Requests.Select(r => (r.Id, r.PromptTokens, r.OutputTokens)).ToArray());
    }

    [Fact]
    public void Committed_trace_fixture_matches_tiktoken_lengths()
    {
        Trace trace = TraceFile.Read(Fixtures.Path("sharegpt-llama3.trace.json"));

        Assert.Equal(GoldenLengths(), trace.Requests.Select(r => (r.Id, r.PromptTokens, r.OutputTokens)).ToArray());
    }

    [Fact]
    public void Request_without_answer_is_skipped_and_listed_and_empty_conversation_ignored()
    {
        using var temp = new TempFiles();
        string path = temp.Write("s.json", """
            [ { "id": "a", "conversations": [ { "from": "human", "value": "hello world" }, { "from": "gpt", "value": "  hello world \n" } ] },
              { "id": "b", "conversations": [ { "from": "human", "value": "only a question" } ] },
              { "id": "c", "conversations": [] } ]
            """);

        ShareGptRequests requests = ShareGptLoader.Load(path);
        ShareGptTrace built = ShareGptTraceBuilder.Build(requests.Requests, GoldenTokens.Tokenizer, "s.json");

        Assert.Equal(["a", "b"], requests.Requests.Select(r => r.Id));
        Assert.Equal(["b"], built.SkippedWithoutAnswer);
        TraceRequest a = Assert.Single(built.Trace.Requests);
        // Prompt: BOS, header (4), "hello world" (15339, 1917), eot, assistant header (4) = 12; output: 2 + eot = 3.
        Assert.Equal(new TraceRequest("a", 12, 3), a);
    }

    [Fact]
    public void Trace_command_writes_the_same_file_as_committed()
    {
        using var temp = new TempFiles();
        string outPath = temp.PathOf("trace.json");
        var console = new StringWriter();

        int rc = TraceCommand.Run(Fixtures.Path("sharegpt-filtered.json"), Fixtures.Path("llama3/tokenizer.model"), outPath, console);

        Assert.Equal(0, rc);
        Assert.Equal(File.ReadAllText(Fixtures.Path("sharegpt-llama3.trace.json")), File.ReadAllText(outPath));
        string summary = console.ToString();
        int promptTotal = GoldenLengths().Sum(x => x.Prompt), outputTotal = GoldenLengths().Sum(x => x.Output);
        Assert.StartsWith($"99 requests from sharegpt-filtered.json (1 empty conversation(s) ignored): prompt {promptTotal} tokens", summary);
        Assert.Contains($"output {outputTotal} tokens", summary);
    }

    [Theory]
    [InlineData(new[] { 5 }, 50, 5)]
    [InlineData(new[] { 1, 2, 3, 4 }, 50, 2)]
    [InlineData(new[] { 1, 2, 3, 4 }, 90, 4)]
    [InlineData(new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, 90, 9)]
    [InlineData(new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, 99, 10)]
    public void Percentile_is_nearest_rank(int[] sorted, int p, int expected) =>
        Assert.Equal(expected, TraceCommand.Percentile(sorted, p));
}
