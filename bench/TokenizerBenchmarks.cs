using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using PagedSim.Model.ShareGpt;
using PagedSim.Model.Tokenization;

namespace PagedSim.Bench;

/// <summary>
/// Llama 3 tokenization of the 100 ShareGPT conversations in fixtures/sharegpt-filtered.json (target: well under a
/// second). "Warm" runs reuse one tokenizer, whose chunk cache is then full; the cold run loads the tokenizer each time.
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private Llama3Tokenizer _tokenizer = null!;
    private ShareGptRequests _requests = null!;
    private string[] _allMessages = [];
    private string _tokenizerPath = "";

    [GlobalSetup]
    public void Setup()
    {
        string fixtures = FindFixtures();
        _tokenizerPath = Path.Combine(fixtures, "llama3", "tokenizer.model");
        _tokenizer = Llama3Tokenizer.Load(_tokenizerPath);
        _requests = ShareGptLoader.Load(Path.Combine(fixtures, "sharegpt-filtered.json"));
        _allMessages = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(fixtures, "sharegpt-filtered.json")))
            .RootElement.EnumerateArray()
            .SelectMany(c => c.GetProperty("conversations").EnumerateArray().Select(m => m.GetProperty("value").GetString()!))
            .ToArray();
    }

    /// <summary>Every message of all 100 conversations (about 1,000 messages).</summary>
    [Benchmark]
    public int EncodeAllMessages()
    {
        int tokens = 0;
        foreach (string message in _allMessages) tokens += _tokenizer.Encode(message).Count;
        return tokens;
    }

    /// <summary>The trace: chat-formatted first message and recorded answer of each of the 99 requests.</summary>
    [Benchmark]
    public int BuildTrace() => ShareGptTraceBuilder.Build(_requests.Requests, _tokenizer, "bench").Trace.Requests.Count;

    /// <summary>Loading tokenizer.model and building the trace with an empty cache: what the trace command does.</summary>
    [Benchmark]
    public int LoadTokenizerAndBuildTrace() =>
        ShareGptTraceBuilder.Build(_requests.Requests, Llama3Tokenizer.Load(_tokenizerPath), "bench").Trace.Requests.Count;

    private static string FindFixtures([CallerFilePath] string sourceFile = "")
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory, Path.GetDirectoryName(sourceFile) ?? "." })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "fixtures");
                if (File.Exists(Path.Combine(candidate, "sharegpt-filtered.json"))) return candidate;
            }
        }
        throw new DirectoryNotFoundException("fixtures/sharegpt-filtered.json not found above the program or the current directory");
    }
}
