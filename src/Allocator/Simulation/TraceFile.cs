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
/// Optional, for prefix caching and multi-turn conversations (files without them read as before):
/// per request <c>"prompt_ids": [128000, ...]</c> (the prompt's token ids), <c>"conversation": "QWJhYvA"</c> and
/// <c>"turn": 2</c> (from 1); at the top <c>"arrival": "after_previous_turn"</c> with <c>"think_steps": N</c>: turn
/// K + 1 of a conversation arrives N steps after turn K finishes (absent, or <c>"at_start"</c>: all at the start).
/// </summary>
public static class TraceFile
{
    /// <summary>The format tag written and expected.</summary>
    public const string Format = "pagedsim-trace/1";

    /// <summary>The <c>arrival</c> value of a multi-turn trace.</summary>
    public const string AfterPreviousTurn = "after_previous_turn";

    /// <summary>The <c>arrival</c> value when every request arrives at the start (the default).</summary>
    public const string AtStart = "at_start";

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
        if (Directory.Exists(path)) throw new TraceFormatException(path, "is a directory, not a trace file");
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
            using var buffer = new MemoryStream();
            json.CopyTo(buffer);
            byte[] bytes = buffer.ToArray();
            // Say what the file is rather than how the JSON reader failed on it.
            int first = Array.FindIndex(bytes, b => !char.IsWhiteSpace((char)b));
            if (first < 0) throw new TraceFormatException(origin, "is empty");
            if (bytes[first] == (byte)'[')
                throw new TraceFormatException(origin, $"is a JSON array, not a {Format} trace (a ShareGPT conversation file? make a trace from it with: trace --sharegpt FILE --out FILE.trace.json)");
            if (bytes[first] != (byte)'{') throw new TraceFormatException(origin, $"is not JSON (a {Format} trace is a JSON object)");
            doc = JsonSerializer.Deserialize<Document>(bytes, s_options);
        }
        catch (JsonException e)
        {
            throw new TraceFormatException(origin, $"malformed JSON ({e.Message.Split('\n')[0].Split(" Path:")[0].Split(" LineNumber")[0].Trim()}{(e.LineNumber is long line ? $" at line {line + 1}" : "")})", e);
        }
        if (doc is null) throw new TraceFormatException(origin, "empty document");
        if (doc.Format != Format) throw new TraceFormatException(origin, $"format must be \"{Format}\", got \"{doc.Format}\"");
        if (doc.Requests is null) throw new TraceFormatException(origin, "no \"requests\" array");
        long? think = doc.Arrival switch
        {
            null or AtStart => null,
            AfterPreviousTurn => doc.ThinkSteps ?? 0,
            _ => throw new TraceFormatException(origin, $"arrival must be \"{AtStart}\" or \"{AfterPreviousTurn}\", got \"{doc.Arrival}\""),
        };
        var requests = new TraceRequest[doc.Requests.Count];
        for (int i = 0; i < requests.Length; i++)
        {
            Entry e = doc.Requests[i] ?? throw new TraceFormatException(origin, $"request #{i} is null");
            requests[i] = new TraceRequest(e.Id ?? $"#{i}", e.PromptTokens, e.OutputTokens, e.PromptIds, e.Conversation, e.Turn ?? 0);
        }
        var trace = new Trace(requests, source, think);
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
            Arrival = trace.ThinkSteps is null ? null : AfterPreviousTurn,
            ThinkSteps = trace.ThinkSteps,
            Requests = trace.Requests.Select(r => (Entry?)new Entry
            {
                Id = r.Id, PromptTokens = r.PromptTokens, OutputTokens = r.OutputTokens,
                Conversation = r.Conversation, Turn = r.Turn > 0 ? r.Turn : null, PromptIds = r.PromptIds,
            }).ToList(),
        };
        return JsonSerializer.Serialize(doc, s_options) + "\n";
    }

    private sealed class Document
    {
        public string? Format { get; set; }
        public string? Source { get; set; }
        public string? Tokenizer { get; set; }
        public string? Arrival { get; set; }
        public long? ThinkSteps { get; set; }
        public List<Entry?>? Requests { get; set; }
    }

    private sealed class Entry
    {
        public string? Id { get; set; }
        public int PromptTokens { get; set; }
        public int OutputTokens { get; set; }
        public string? Conversation { get; set; }
        public int? Turn { get; set; }
        [JsonConverter(typeof(CompactIds))]
        public int[]? PromptIds { get; set; }
    }

    /// <summary>Writes an id array on one line (an indented file would give every id its own line).</summary>
    private sealed class CompactIds : JsonConverter<int[]>
    {
        public override int[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("prompt_ids must be an array of integers");
            var ids = new List<int>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id))
                    throw new JsonException("prompt_ids must hold 32-bit integers");
                ids.Add(id);
            }
            return [.. ids];
        }

        public override void Write(Utf8JsonWriter writer, int[] value, JsonSerializerOptions options)
        {
            var text = new System.Text.StringBuilder(value.Length * 7 + 2).Append('[');
            for (int i = 0; i < value.Length; i++)
            {
                if (i > 0) text.Append(',');
                text.Append(value[i].ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            writer.WriteRawValue(text.Append(']').ToString(), skipInputValidation: true);
        }
    }
}
