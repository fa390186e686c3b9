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
        var model = new Option<string>("--model") { Description = "Checkpoint directory: params.json + consolidated.NN.pth (Meta) or config.json + *.safetensors (Hugging Face).", Required = true };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "Prompts as token ids: comma-separated ids, prompts separated by ';' (e.g. \"1,2,3;4,5,6,7\")." };
        var prompts = new Option<string[]>("--prompt") { Description = "A user message, chat-formatted with DIR/tokenizer.model (repeat for several prompts).", AllowMultipleArgumentsPerToken = false };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Most tokens to generate per prompt.", DefaultValueFactory = _ => 32 };
        var cacheKind = new Option<string>("--cache") { Description = "KV cache: paged (block pools + block tables) or naive (one max-length row per prompt).", DefaultValueFactory = _ => "paged" };
        cacheKind.AcceptOnlyFromAmong("paged", "naive");
        var blockSize = new Option<int>("--block-size") { Description = "Tokens per KV block (paged cache).", DefaultValueFactory = _ => 16 };
        var device = new Option<string>("--device") { Description = "cpu (float32) or cuda (bf16).", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var stopIds = new Option<string?>("--stop-ids") { Description = "Comma-separated ids that end a prompt's generation (default: the tokenizer's stop tokens, if any)." };
        var temperature = new Option<double>("--temperature") { Description = "0 for greedy; above 0 samples.", DefaultValueFactory = _ => 0.0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling threshold (with --temperature).", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var tokenByToken = new Option<bool>("--token-by-token") { Description = "Feed prompts one position per step beyond the shortest prompt, as the seed did." };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text." };
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel ranks: on the CPU threads of this process, on CUDA one GPU each over NCCL (docs/tensor-parallel.md).", DefaultValueFactory = _ => 1 };
        var command = new Command("generate", "Generate with a Llama 3 checkpoint: batched greedy (or sampled) decoding over a paged or naive KV cache.")
        {
            model, promptIds, prompts, maxNew, cacheKind, blockSize, device, stopIds, temperature, topP, seed, tokenByToken, json, tp,
        };
        command.SetAction(parse => Run(new GenerateSettings(
            parse.GetValue(model)!, parse.GetValue(promptIds), parse.GetValue(prompts) ?? [], parse.GetValue(maxNew),
            parse.GetValue(cacheKind)!, parse.GetValue(blockSize), parse.GetValue(device)!, parse.GetValue(stopIds),
            new SamplingOptions(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(seed)),
            parse.GetValue(tokenByToken) ? PrefillMode.TokenByToken : PrefillMode.Whole, parse.GetValue(json), parse.GetValue(tp)), Console.Out));
        return command;
    }

    internal static int Run(GenerateSettings s, TextWriter console)
    {
        if (s.MaxNewTokens <= 0) throw new UserError($"--max-new-tokens: must be positive, got {s.MaxNewTokens}");
        if (s.BlockSize <= 0) throw new UserError($"--block-size: must be positive, got {s.BlockSize}");
        if (s.TensorParallel <= 0) throw new UserError($"--tp: must be positive, got {s.TensorParallel}");
        try
        {
            s.Sampling.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UserError($"--temperature/--top-p: {e.Message.Split('\n')[0]}");
        }
        if ((s.PromptIds is null) == (s.Prompts.Length == 0)) throw new UserError("give either --prompt-ids or --prompt (not both)");

        Llama3Tokenizer? tokenizer = LoadTokenizer(s.ModelDir, required: s.Prompts.Length > 0);
        List<int[]> prompts = s.PromptIds is not null
            ? ParseIdLists(s.PromptIds, "--prompt-ids")
            : s.Prompts.Select(p => new ChatFormat(tokenizer!).EncodeDialogPrompt([new ChatMessage("user", p)]).ToArray()).ToList();
        IReadOnlySet<int>? stops = s.StopIds is not null ? ParseIdLists(s.StopIds, "--stop-ids").SelectMany(x => x).ToHashSet() : tokenizer?.StopTokens;

        Device dev = s.Device == "cuda" ? CudaDevices.CudaOrFail() : CPU;
        int longest = prompts.Max(p => p.Length) + s.MaxNewTokens;
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
            for (int i = 0; i < prompts.Count; i++)
                foreach (int id in prompts[i])
                    if ((uint)id >= (uint)llama.Config.VocabSize)
                        throw new UserError($"--prompt-ids: id {id} in prompt {i} is outside the model's vocabulary [0, {llama.Config.VocabSize})");

            // Room for every prompt to its end (no scheduler here): paged, the blocks each needs; naive, a row each.
            using IKvCache cache = s.Cache == "naive"
                ? llama.NewNaiveCache(prompts.Count, longest)
                : llama.NewPagedCache(new KvCacheOptions(prompts.Sum(p => (p.Length + s.MaxNewTokens + s.BlockSize - 1) / s.BlockSize), s.BlockSize, longest));
            var requests = prompts.Select(p => new GenerationRequest(p, s.MaxNewTokens, stops)).ToArray();
            var clock = Stopwatch.StartNew();
            IReadOnlyList<GenerationResult> results = new BatchGenerator(llama, cache, new ReferenceAttention())
                .Generate(requests, new GenerationOptions(s.Sampling, s.Prefill));
            double seconds = clock.Elapsed.TotalSeconds;
            int generated = results.Sum(r => r.Tokens.Count + (r.StopToken is null ? 0 : 1));
            if (s.Json) console.WriteLine(Json(s, llama, prompts, results, tokenizer, seconds, generated));
            else PrintText(console, s, llama, prompts, results, tokenizer, seconds, generated);
        }
        return 0;
    }

    private static void PrintText(TextWriter console, GenerateSettings s, Llama3 llama, List<int[]> prompts,
        IReadOnlyList<GenerationResult> results, Llama3Tokenizer? tokenizer, double seconds, int generated)
    {
        var inv = CultureInfo.InvariantCulture;
        for (int i = 0; i < results.Count; i++)
        {
            GenerationResult r = results[i];
            string why = r.Reason == FinishReason.Stop ? $"stop token {r.StopToken}" : "length";
            console.WriteLine($"prompt {i} ({prompts[i].Length} tokens) -> {r.Tokens.Count} new ({why}): {string.Join(",", r.Tokens)}");
            if (tokenizer is not null) console.WriteLine($"  {JsonSerializer.Serialize(tokenizer.Decode(r.Tokens))}");
        }
        console.WriteLine(string.Create(inv,
            $"{prompts.Count} prompt(s), {generated} tokens in {seconds:F2} s ({generated / Math.Max(seconds, 1e-9):F1} tok/s); {llama.Config.Layers} layers, dim {llama.Config.Dim}, {s.Cache} cache{(s.Cache == "paged" ? $" (block size {s.BlockSize})" : "")}, {s.Device} {llama.DType}{(s.TensorParallel > 1 ? $", tensor parallel {s.TensorParallel} ({llama.Parallel!.Group.Collective.Name})" : "")}"));
    }

    private static string Json(GenerateSettings s, Llama3 llama, List<int[]> prompts, IReadOnlyList<GenerationResult> results,
        Llama3Tokenizer? tokenizer, double seconds, int generated)
    {
        var doc = new Dictionary<string, object?>
        {
            ["model"] = s.ModelDir,
            ["cache"] = s.Cache,
            ["blockSize"] = s.Cache == "paged" ? s.BlockSize : null,
            ["device"] = s.Device,
            ["dtype"] = llama.DType.ToString(),
            ["tp"] = s.TensorParallel,
            ["results"] = results.Select((r, i) => new Dictionary<string, object?>
            {
                ["prompt"] = prompts[i],
                ["generated"] = r.Tokens,
                ["finishReason"] = r.Reason == FinishReason.Stop ? "stop" : "length",
                ["stopToken"] = r.StopToken,
                ["text"] = tokenizer?.Decode(r.Tokens),
            }).ToArray(),
            ["generatedTokens"] = generated,
            ["seconds"] = Math.Round(seconds, 4),
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
    }

    private static Llama3Tokenizer? LoadTokenizer(string modelDir, bool required)
    {
        string path = Path.Combine(modelDir, "tokenizer.model");
        if (!File.Exists(path))
        {
            if (required) throw new UserError($"--prompt: {path} not found (use --prompt-ids for a model without a tokenizer)");
            return null;
        }
        try
        {
            return Llama3Tokenizer.Load(path);
        }
        catch (TokenizerLoadException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
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
    string? StopIds, SamplingOptions Sampling, PrefillMode Prefill, bool Json, int TensorParallel = 1);
