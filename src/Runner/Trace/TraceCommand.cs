using System.CommandLine;
using System.Globalization;
using PagedSim.Allocator.Simulation;
using PagedSim.Model.ShareGpt;
using PagedSim.Model.Tokenization;

namespace PagedSim.Runner;

/// <summary>
/// <c>trace [--sharegpt FILE] [--tokenizer FILE] [--out FILE]</c>: tokenizes ShareGPT requests with Llama 3's tokenizer
/// and chat format and writes their lengths as a trace (<see cref="TraceFile"/>). Prints a one-line summary; without
/// <c>--out</c> nothing is written (a hint on stderr says so).
/// </summary>
internal static class TraceCommand
{
    /// <summary>Written into the trace's "tokenizer" field: how the lengths were counted.</summary>
    public const string TokenizerDescription =
        "Llama 3 tokenizer.model (Meta); prompt_tokens: chat-formatted user turn (encode_dialog_prompt); output_tokens: stripped answer plus the closing eot_id";

    public static Command Create()
    {
        var sharegpt = new Option<string?>("--sharegpt") { Description = $"ShareGPT conversations (JSON). Default: fixtures/{Fixtures.MarkerFile}" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Llama 3 tokenizer.model (tiktoken format). Default: fixtures/llama3/tokenizer.model" };
        var output = new Option<string?>("--out") { Description = "Write the trace (pagedsim-trace/1 JSON) to FILE. Without it only the summary is printed.", HelpName = "FILE" };
        var multiTurn = new Option<bool>("--multi-turn") { Description = "One request per user turn: prompt = chat-formatted history + the new message (ids kept, for prefix caching); turn K+1 arrives after turn K finishes." };
        var thinkSteps = new Option<long>("--think-steps") { Description = "With --multi-turn: scheduler steps between a turn's finish and the next turn's arrival.", DefaultValueFactory = _ => 0 };
        var command = new Command("trace", "Tokenize ShareGPT requests with the Llama 3 tokenizer and write their prompt/output lengths as a trace.")
        {
            sharegpt, tokenizer, output, multiTurn, thinkSteps,
        };
        command.SetAction(parse =>
        {
            string sharegptPath = parse.GetValue(sharegpt) ?? Fixtures.Path(Fixtures.MarkerFile);
            string tokenizerPath = parse.GetValue(tokenizer) ?? Fixtures.Path("llama3/tokenizer.model");
            long think = parse.GetValue(thinkSteps);
            if (think < 0) throw new UserError($"--think-steps: must not be negative, got {think}");
            if (!parse.GetValue(multiTurn))
            {
                if (parse.GetResult(thinkSteps) is { Implicit: false }) throw new UserError("--think-steps: applies to --multi-turn only");
                return Run(sharegptPath, tokenizerPath, parse.GetValue(output), Console.Out);
            }
            return RunMultiTurn(sharegptPath, tokenizerPath, parse.GetValue(output), think, Console.Out);
        });
        return command;
    }

    /// <summary>Written into a multi-turn trace's "tokenizer" field.</summary>
    public const string MultiTurnTokenizerDescription =
        "Llama 3 tokenizer.model (Meta); prompt_ids: encode_dialog_prompt of every earlier message (user and assistant alternating) plus the new user message; output_tokens: stripped answer plus the closing eot_id";

    /// <summary>Builds a multi-turn trace (<see cref="ShareGptMultiTurnBuilder"/>), writes it, prints a summary line.</summary>
    internal static int RunMultiTurn(string sharegptPath, string tokenizerPath, string? outPath, long thinkSteps, TextWriter console)
    {
        IReadOnlyList<ShareGptConversation> conversations;
        Llama3Tokenizer tokenizer;
        try
        {
            conversations = ShareGptLoader.LoadConversations(sharegptPath);
            tokenizer = Llama3Tokenizer.Load(tokenizerPath);
        }
        catch (ShareGptFormatException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
        catch (TokenizerLoadException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
        MultiTurnTrace built = ShareGptMultiTurnBuilder.Build(conversations, tokenizer, Path.GetFileName(sharegptPath), thinkSteps, ServeTraceCommand.MaxSequenceLength);
        IReadOnlyList<TraceRequest> r = built.Trace.Requests;
        if (r.Count == 0) throw new UserError($"{sharegptPath}: no conversation has a recorded answer (second message), so no output lengths");
        if (outPath is not null) AtomicFile.WriteAllText(outPath, TraceFile.ToJson(built.Trace, MultiTurnTokenizerDescription));
        int[] prompts = r.Select(x => x.PromptTokens).Order().ToArray();
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{r.Count} turns of {built.Conversations} conversations from {built.Trace.Source} (up to {r.Max(x => x.Turn)} turns; "
            + $"{built.UnansweredTurns} unanswered, {built.DroppedTurns} over {ServeTraceCommand.MaxSequenceLength} tokens left out; think {thinkSteps} steps): "
            + $"prompt {prompts.Sum(x => (long)x)} tokens (p50 {Percentile(prompts, 50)}, p90 {Percentile(prompts, 90)}), "
            + $"output {r.Sum(x => (long)x.OutputTokens)} tokens{(outPath is null ? "" : $" -> {outPath}")}"));
        if (outPath is null) Console.Error.WriteLine("(nothing written: pass --out FILE to write the trace)");
        return 0;
    }

    /// <summary>Builds the trace, writes it when <paramref name="outPath"/> is given, prints the summary line.</summary>
    internal static int Run(string sharegptPath, string tokenizerPath, string? outPath, TextWriter console)
    {
        InputFile.Check("--sharegpt", sharegptPath);
        InputFile.Check("--tokenizer", tokenizerPath);
        OutputPath.Check("--out", outPath);
        ShareGptRequests requests;
        Llama3Tokenizer tokenizer;
        try
        {
            requests = ShareGptLoader.Load(sharegptPath);
            tokenizer = Llama3Tokenizer.Load(tokenizerPath);
        }
        catch (ShareGptFormatException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
        catch (TokenizerLoadException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }

        ShareGptTrace built = ShareGptTraceBuilder.Build(requests.Requests, tokenizer, Path.GetFileName(sharegptPath));
        if (built.Trace.Requests.Count == 0)
            throw new UserError($"{sharegptPath}: no conversation has a recorded answer (second message), so no output lengths");
        if (outPath is not null) AtomicFile.WriteAllText(outPath, TraceFile.ToJson(built.Trace, TokenizerDescription));

        console.WriteLine(Summary(built, requests, outPath));
        if (outPath is null) Console.Error.WriteLine("(nothing written: pass --out FILE to write the trace)");
        return 0;
    }

    /// <summary>One line: counts, token totals and nearest-rank percentiles of prompt and output lengths.</summary>
    internal static string Summary(ShareGptTrace built, ShareGptRequests requests, string? outPath)
    {
        IReadOnlyList<TraceRequest> r = built.Trace.Requests;
        int[] prompts = r.Select(x => x.PromptTokens).Order().ToArray();
        int[] outputs = r.Select(x => x.OutputTokens).Order().ToArray();
        var notes = new List<string>();
        if (built.SkippedWithoutAnswer.Count > 0) notes.Add($"{built.SkippedWithoutAnswer.Count} skipped without an answer");
        if (requests.EmptyConversations > 0) notes.Add($"{requests.EmptyConversations} empty conversation(s) ignored");
        string noteText = notes.Count > 0 ? $" ({string.Join(", ", notes)})" : "";
        string written = outPath is null ? "" : $" -> {outPath}";
        return string.Create(CultureInfo.InvariantCulture,
            $"{r.Count} requests from {built.Trace.Source}{noteText}: "
            + $"prompt {prompts.Sum(x => (long)x)} tokens (p50 {Percentile(prompts, 50)}, p90 {Percentile(prompts, 90)}, p99 {Percentile(prompts, 99)}), "
            + $"output {outputs.Sum(x => (long)x)} tokens (p50 {Percentile(outputs, 50)}, p90 {Percentile(outputs, 90)}, p99 {Percentile(outputs, 99)}){written}");
    }

    /// <summary>Nearest-rank percentile of sorted values: the smallest value with at least p% of values at or below it.</summary>
    internal static int Percentile(int[] sorted, int p) => sorted[Math.Max(0, (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1)];
}
