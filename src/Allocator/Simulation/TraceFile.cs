using System.Text.Json;
using System.Text.Json.Serialization;

namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Reads and writes the trace format (JSON):
/// <code>
/// { "format": "pagedsim-trace/1", "source": "...", "tokenizer": "...",
///   "requests": [ { "id": "QWJhYvA_0", "prompt_tokens": 74, "output_tokens": 512 }, ... ] }
/// </code>
/// <c>prompt_tokens</c> counts the Llama 3 chat-formatted prompt; <c>output_tokens</c> the recorded answer's tokens
/// plus the closing <c>&lt;|eot_id|&gt;</c>. Requests keep their order (the arrival order).
/// </summary>
public static class TraceFile
{
    /// <summary>The format tag written and expected.</summary>
    public const string Format = "pagedsim-trace/1";

    private static readonly JsonSerializerOptions s_options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Reads and validates a trace file.</summary>
    /// <exception cref="TraceFormatException">Missing file, malformed JSON, wrong format tag or invalid lengths.</exception>
    public static Trace Read(string path, int maxSequenceLength = int.MaxValue)
    {
        if (!File.Exists(path)) throw new TraceFormatException(path, "file not found");
        using FileStream stream = File.OpenRead(path);
        return Parse(stream, path, Path.GetFileName(path), maxSequenceLength);
    }

    /// <summary>Parses and validates a trace from <paramref name="json"/> (an uploaded file, an embedded resource);
    /// <paramref name="origin"/> names it in errors and becomes the trace's source.</summary>
    /// <exception cref="TraceFormatException">Malformed JSON, wrong format tag or invalid lengths.</exception>
    public static Trace Parse(Stream json, string origin, int maxSequenceLength = int.MaxValue) =>
        Parse(json, origin, origin, maxSequenceLength);

    private static Trace Parse(Stream json, string origin, string source, int maxSequenceLength)
    {
        Document? doc;
        try
        {
            doc = JsonSerializer.Deserialize<Document>(json, s_options);
        }
        catch (JsonException e)
        {
            throw new TraceFormatException(origin, $"malformed JSON ({e.Message.Split('\n')[0]})", e);
        }
        if (doc is null) throw new TraceFormatException(origin, "empty document");
        if (doc.Format != Format) throw new TraceFormatException(origin, $"format must be \"{Format}\", got \"{doc.Format}\"");
        if (doc.Requests is null) throw new TraceFormatException(origin, "no \"requests\" array");
        var requests = new TraceRequest[doc.Requests.Count];
        for (int i = 0; i < requests.Length; i++)
        {
            Entry e = doc.Requests[i] ?? throw new TraceFormatException(origin, $"request #{i} is null");
            requests[i] = new TraceRequest(e.Id ?? $"#{i}", e.PromptTokens, e.OutputTokens);
        }
        var trace = new Trace(requests, source);
        trace.Validate(maxSequenceLength, origin);
        return trace;
    }

    /// <summary>Serializes a trace; <paramref name="tokenizer"/> describes how lengths were counted.</summary>
    public static string ToJson(Trace trace, string? tokenizer = null)
    {
        var doc = new Document
        {
            Format = Format,
            Source = trace.Source,
            Tokenizer = tokenizer,
            Requests = trace.Requests.Select(r => (Entry?)new Entry { Id = r.Id, PromptTokens = r.PromptTokens, OutputTokens = r.OutputTokens }).ToList(),
        };
        return JsonSerializer.Serialize(doc, s_options) + "\n";
    }

    private sealed class Document
    {
        public string? Format { get; set; }
        public string? Source { get; set; }
        public string? Tokenizer { get; set; }
        public List<Entry?>? Requests { get; set; }
    }

    private sealed class Entry
    {
        public string? Id { get; set; }
        public int PromptTokens { get; set; }
        public int OutputTokens { get; set; }
    }
}
