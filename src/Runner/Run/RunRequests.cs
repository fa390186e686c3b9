using PagedSim.Allocator.Simulation;
using PagedSim.Model.ShareGpt;
using PagedSim.Model.Tokenization;

namespace PagedSim.Runner;

/// <summary>
/// The first N ShareGPT requests as the run feeds them: the user turn in Llama 3's chat format (as the seed builds
/// its prompts), each with its trace entry (prompt and recorded answer lengths). Past the file's end the requests
/// repeat, as the simulator's do.
/// </summary>
internal sealed record RunRequests(Trace Trace, IReadOnlyList<TraceRequest> Entries, IReadOnlyList<int[]> Prompts)
{
    /// <summary>Loads and tokenizes <paramref name="shareGptPath"/> and takes the first <paramref name="count"/> answered requests.</summary>
    public static RunRequests Load(string shareGptPath, Llama3Tokenizer tokenizer, int count)
    {
        ShareGptRequests file;
        try
        {
            file = ShareGptLoader.Load(shareGptPath);
        }
        catch (Exception e) when (e is ShareGptFormatException or IOException or UnauthorizedAccessException)
        {
            throw new UserError(e is ShareGptFormatException ? e.Message : $"{shareGptPath}: {e.Message}", Cli.BadInput, e);
        }
        Trace trace = ShareGptTraceBuilder.Build(file.Requests, tokenizer, Path.GetFileName(shareGptPath)).Trace;
        if (trace.Requests.Count == 0) throw new UserError($"{shareGptPath}: no request with a recorded answer");
        var byId = new Dictionary<string, string>();
        foreach (ShareGptRequest r in file.Requests) byId.TryAdd(r.Id, r.Prompt);
        var chat = new ChatFormat(tokenizer);
        var prompts = new Dictionary<string, int[]>();
        IReadOnlyList<TraceRequest> entries = Simulator.FirstRequests(trace, count);
        var list = new int[entries.Count][];
        for (int i = 0; i < entries.Count; i++)
        {
            string id = trace.Requests[i % trace.Requests.Count].Id;
            if (!prompts.TryGetValue(id, out int[]? ids))
                prompts[id] = ids = [.. chat.EncodeDialogPrompt([new ChatMessage("user", byId[id])])];
            list[i] = ids;
            TraceRequest e = entries[i];
            if (e.PromptTokens >= RunSettings.MaxSequenceLength)
                throw new UserError($"{shareGptPath}: request {e.Id} has a prompt of {e.PromptTokens} tokens; at most {RunSettings.MaxSequenceLength - 1} fit");
        }
        return new RunRequests(trace, entries, list);
    }

    /// <summary>New tokens each request may generate: its recorded answer length (synthetic weights) or up to the
    /// max sequence length (real weights stop at a stop token), capped by <paramref name="cap"/>.</summary>
    public int[] MaxNewTokens(bool synthetic, int? cap) =>
        [.. Entries.Select(e => Math.Max(1, Math.Min(cap ?? int.MaxValue,
            synthetic ? Math.Min(e.OutputTokens, RunSettings.MaxSequenceLength - e.PromptTokens) : RunSettings.MaxSequenceLength - e.PromptTokens)))];

    /// <summary>The entries with their output lengths replaced: what the simulator should predict for this run.</summary>
    public IReadOnlyList<TraceRequest> Planned(int[] maxNew, bool synthetic) =>
        [.. Entries.Select((e, i) => synthetic || maxNew[i] < e.OutputTokens ? e with { OutputTokens = maxNew[i] } : e)];
}
