using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Model.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// <c>generate --model DIR (--prompt-ids "1,2;3" | --prompt TEXT) [--max-new-tokens N] [--cache paged|naive]
/// [--block-size B] [--device cpu|cuda] [--json] ...</c>: loads a Llama 3 checkpoint (Meta or Hugging Face layout),
/// generates for every prompt in one batch, and prints the generated ids (and text, when the model directory has a
/// tokenizer.model).
/// </summary>
internal static class GenerateCommand
{

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint: a .gguf file, or a directory with params.json + consolidated.NN.pth (Meta) or config.json + *.safetensors (Hugging Face).", Required = true };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "Prompts as token ids: comma-separated ids, prompts separated by ';' (e.g. \"1,2,3;4,5,6,7\")." };
        var prompts = new Option<string[]>("--prompt") { Description = "A prompt: chat-formatted with DIR/tokenizer.model (Llama 3), or plain text after BOS with a GGUF's own SentencePiece tokenizer (\"\" = BOS alone). Repeat for several prompts.", AllowMultipleArgumentsPerToken = false };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate per prompt.", DefaultValueFactory = _ => 32 };
        var cacheKind = new Option<string>("--cache") { Description = "KV cache: paged (block pools + block tables) or naive (one max-length row per prompt).", DefaultValueFactory = _ => "paged" };
        cacheKind.AcceptOnlyFromAmong("paged", "naive");
        var blockSize = CommonOptions.BlockSize();
        var device = CommonOptions.Device("CUDA in bf16 when available, else the CPU in float32");
        var stopIds = new Option<string?>("--stop-ids") { Description = "Comma-separated ids that end a prompt's generation (default: the tokenizer's stop tokens, if any)." };
        var temperature = CommonOptions.Temperature();
        var topP = CommonOptions.TopP();
        var seed = CommonOptions.Seed("the sampling streams");
        var tokenByToken = new Option<bool>("--token-by-token") { Description = "Feed prompts one position per step beyond the shortest prompt, as the seed did." };
        var json = CommonOptions.Json();
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel ranks: on the CPU threads of this process, on CUDA one GPU each over NCCL (docs/tensor-parallel.md).", DefaultValueFactory = _ => 1 };
        var command = new Command("generate", "Generate with a Llama 3 checkpoint: batched greedy (or sampled) decoding over a paged or naive KV cache.")
        {
            model, promptIds, prompts, maxNew, cacheKind, blockSize, device, stopIds, temperature, topP, seed, tokenByToken, json, tp,
        };
        command.SetAction(parse => Run(new GenerateSettings(
            parse.GetValue(model)!, parse.GetValue(promptIds), parse.GetValue(prompts) ?? [], parse.GetValue(maxNew),
            parse.GetValue(cacheKind)!, parse.GetValue(blockSize), parse.GetValue(device)!, parse.GetValue(stopIds),
            new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(seed)),
            parse.GetValue(tokenByToken) ? PrefillMode.TokenByToken : PrefillMode.Whole, parse.GetValue(json), parse.GetValue(tp)), Console.Out, Console.Error, ProgressDisplay.IsTerminal));
        return command;
    }

    internal static int Run(GenerateSettings s, TextWriter console, TextWriter? log = null, bool interactive = false)
    {
        if (s.MaxNewTokens <= 0) throw new UserError($"--max-new-tokens: must be positive, got {s.MaxNewTokens}");
        if (s.BlockSize <= 0) throw new UserError($"--block-size: must be positive, got {s.BlockSize}");
        if (s.TensorParallel <= 0) throw new UserError($"--tp: must be positive, got {s.TensorParallel}");
        CommonOptions.ValidateSampling(s.Sampling);
        if (s.PromptIds is not null && s.Prompts.Length > 0) throw new UserError("--prompt and --prompt-ids: give one or the other, not both");
        if (s.PromptIds is null && s.Prompts.Length == 0) throw new UserError("no prompt: give --prompt TEXT or --prompt-ids \"1,2,3\"");
        OutputPath.Check("--json", s.JsonPath, allowStdout: true);
        if (!Directory.Exists(s.ModelDir) && !File.Exists(s.ModelDir)) throw new UserError($"--model: {s.ModelDir}: no such checkpoint folder or file");

        GenerateTokenizer? tokenizer = GenerateTokenizer.Load(s.ModelDir, required: s.Prompts.Length > 0);
        List<int[]> prompts = s.PromptIds is not null
            ? ParseIdLists(s.PromptIds, "--prompt-ids")
            : s.Prompts.Select(tokenizer!.EncodePrompt).ToList();
        IReadOnlySet<int>? stops = s.StopIds is not null ? ParseIdLists(s.StopIds, "--stop-ids").SelectMany(x => x).ToHashSet() : tokenizer?.StopTokens;

        Device dev = CudaDevices.Resolve(s.Device);
        int longest = prompts.Max(p => p.Length) + s.MaxNewTokens;
        Llama3Config config = CheckpointConfig.Read(s.ModelDir);
        if (longest > config.MaxPositions)
            throw new UserError($"--max-new-tokens: {s.MaxNewTokens:N0} new tokens after a prompt of {prompts.Max(p => p.Length):N0} exceed the model's context of {config.MaxPositions:N0} tokens");
        if (s.BlockSize > config.MaxPositions)
            throw new UserError($"--block-size: {s.BlockSize:N0} exceeds the model's context of {config.MaxPositions:N0} tokens");
        for (int i = 0; i < prompts.Count; i++)
            foreach (int id in prompts[i])
                if ((uint)id >= (uint)config.VocabSize)
                    throw new UserError($"{(s.PromptIds is null ? "--prompt" : "--prompt-ids")}: token id {id} in prompt {i} is outside the model's vocabulary of {config.VocabSize:N0} ids{(s.PromptIds is null ? " (the tokenizer does not belong to this model)" : "")}");
        MemoryGuard.CheckWeights(config, dev, "generate");
        Llama3 llama;
        try
        {
            llama = s.TensorParallel == 1 ? Llama3.Load(s.ModelDir, dev, maxPositions: longest) : GenerateTensorParallel.Load(s.ModelDir, s.TensorParallel, dev, longest);
        }
        catch (CheckpointException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
        using (llama)
        {
            // Room for every prompt to its end (no scheduler here): paged, the blocks each needs; naive, a row each.
            using IKvCache cache = s.Cache == "naive"
                ? llama.NewNaiveCache(prompts.Count, longest)
                : llama.NewPagedCache(new KvCacheOptions(prompts.Sum(p => (p.Length + s.MaxNewTokens + s.BlockSize - 1) / s.BlockSize), s.BlockSize, longest));
            var requests = prompts.Select(p => new GenerationRequest(p, s.MaxNewTokens, stops)).ToArray();
            var clock = Stopwatch.StartNew();
            var generator = new BatchGenerator(llama, cache, new ReferenceAttention());
            // Progress on long runs (a large --max-new-tokens on the CPU takes minutes).
            IReadOnlyList<GenerationResult> results = new ProgressDisplay(interactive, log ?? TextWriter.Null).Run($"generate ({prompts.Count} prompt(s))", update =>
            {
                generator.StepCompleted = p => update($"{(p.IsPrefill ? "prefill" : $"step {p.Index:N0}")}: {p.Finished}/{prompts.Count} done, {p.Seconds:F0} s");
                return generator.Generate(requests, new GenerationOptions(s.Sampling, s.Prefill));
            });
            double seconds = clock.Elapsed.TotalSeconds;
            int generated = results.Sum(r => r.Tokens.Count + (r.StopToken is null ? 0 : 1));
            if (s.JsonPath is not null) JsonOutput.Write(s.JsonPath, Json(s, llama, prompts, results, tokenizer, seconds, generated), console);
            if (s.JsonPath != OutputPath.Stdout) PrintText(console, s, llama, prompts, results, tokenizer, seconds, generated);
        }
        return 0;
    }

    private static void PrintText(TextWriter console, GenerateSettings s, Llama3 llama, List<int[]> prompts,
        IReadOnlyList<GenerationResult> results, GenerateTokenizer? tokenizer, double seconds, int generated)
    {
        var inv = CultureInfo.InvariantCulture;
        for (int i = 0; i < results.Count; i++)
        {
            GenerationResult r = results[i];
            string why = r.Reason == FinishReason.Stop ? $"stop token {r.StopToken}" : "length";
            console.WriteLine($"prompt {i} ({prompts[i].Length} tokens) -> {r.Tokens.Count} new ({why}): {string.Join(",", r.Tokens)}");
            if (tokenizer is not null) console.WriteLine(tokenizer.PlainText ? tokenizer.Text(prompts[i], r.Tokens) : $"  {tokenizer.Render(prompts[i], r.Tokens)}");
        }
        console.WriteLine(string.Create(inv,
            $"{prompts.Count} prompt(s), {generated} tokens in {seconds:F2} s ({generated / Math.Max(seconds, 1e-9):F1} tok/s); {llama.Config.Layers} layers, dim {llama.Config.Dim}, {s.Cache} cache{(s.Cache == "paged" ? $" (block size {s.BlockSize})" : "")}, {s.Device} {llama.DType}{(s.TensorParallel > 1 ? $", tensor parallel {s.TensorParallel} ({llama.Parallel!.Group.Collective.Name})" : "")}, {AttentionNote(llama)}"));
    }

    /// <summary>generate always runs the reference attention; on CUDA, say why flash-attn could not take this model.</summary>
    internal static string AttentionNote(Llama3 llama) =>
        llama.Device.type == DeviceType.CUDA && llama.Config.HeadDim != 128
            ? $"reference attention (head size {llama.Config.HeadDim}: flash-attn is built for 128)"
            : "reference attention";

    private static string Json(GenerateSettings s, Llama3 llama, List<int[]> prompts, IReadOnlyList<GenerationResult> results,
        GenerateTokenizer? tokenizer, double seconds, int generated)
    {
        var doc = new Dictionary<string, object?>
        {
            ["model"] = s.ModelDir,
            ["cache"] = s.Cache,
            ["block_size"] = s.Cache == "paged" ? s.BlockSize : null,
            ["device"] = s.Device,
            ["dtype"] = llama.DType.ToString(),
            ["attention"] = AttentionNote(llama),
            ["tp"] = s.TensorParallel,
            ["results"] = results.Select((r, i) => new Dictionary<string, object?>
            {
                ["prompt"] = prompts[i],
                ["generated"] = r.Tokens,
                ["finishReason"] = r.Reason == FinishReason.Stop ? "stop" : "length",
                ["stopToken"] = r.StopToken,
                ["text"] = tokenizer?.Text(prompts[i], r.Tokens),
            }).ToArray(),
            ["generatedTokens"] = generated,
            ["seconds"] = Math.Round(seconds, 4),
        };
        return JsonOutput.Serialize(doc);
    }

    /// <summary>"1,2,3;4,5" → [[1,2,3],[4,5]]; one clear error for anything else.</summary>
    internal static List<int[]> ParseIdLists(string text, string option)
    {
        var lists = new List<int[]>();
        foreach (string part in text.Split(';'))
        {
            string[] items = part.Split(',', StringSplitOptions.TrimEntries);
            var ids = new int[items.Length];
            for (int i = 0; i < items.Length; i++)
            {
                if (!int.TryParse(items[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                    throw new UserError($"{option}: '{items[i]}' in \"{part.Trim()}\" is not a token id (expected e.g. \"1,2,3;4,5\")");
            }
            lists.Add(ids);
        }
        return lists;
    }
}

/// <summary>The parsed options of <c>generate</c>.</summary>
internal sealed record GenerateSettings(
    string ModelDir, string? PromptIds, string[] Prompts, int MaxNewTokens, string Cache, int BlockSize, string Device,
    string? StopIds, SamplingOptions Sampling, PrefillMode Prefill, string? JsonPath, int TensorParallel = 1);
