using System.CommandLine;
using System.Text.Json;
using PagedSim.Runner;
using TorchSharp;

namespace PagedSim.Golden.Tests.Runner;

/// <summary>
/// The root command on a CPU machine: the prediction and one explanation line without CUDA, the whole run path with a
/// tiny synthetic model and the real tokenizer (paged and naive give the same ids), and bad arguments as one line.
/// Expected figures come from the trace fixture's first prompt lengths (44, 27, 72, 101 tokens) and the tiny shape.
/// </summary>
public sealed class RunCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Output) Run(params string[] args)
    {
        var console = new StringWriter();
        ParseResult parse = RunCommand.Create(console, TextWriter.Null, interactive: false).Parse(args);
        Assert.Empty(parse.Errors);
        int code = parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        return (code, console.ToString());
    }

    private static UserError Error(params string[] args)
    {
        ParseResult parse = RunCommand.Create(TextWriter.Null, TextWriter.Null, interactive: false).Parse(args);
        Assert.Empty(parse.Errors);
        return Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
    }

    private static void SkipWithCuda() => Assert.SkipWhen(torch.cuda.is_available(), "this machine has CUDA: the no-GPU output does not apply");

    [Fact]
    public void Without_cuda_prints_the_prediction_and_one_line_on_what_is_missing()
    {
        SkipWithCuda();
        (int code, string output) = Run("49");

        string[] lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(0, code);
        Assert.StartsWith("Prediction for 49 request(s) of sharegpt-llama3.trace.json on rtx4090", lines[0]);
        Assert.StartsWith("  paged: fits", lines[1]);
        Assert.Contains("max batch 7 (", lines[2]); // the seed's RTX 4090: 7 naive requests fit, 8 run out of memory
        Assert.Contains(lines, l => l.StartsWith("  time: ") && l.Contains(" tokens/s predicted (") && l.Contains("(datasheet-scaled figures)"));
        Assert.StartsWith("GPU run: not run: no CUDA device", lines[^1]);
        Assert.Contains("TorchSharp-cuda-linux", lines[^1]);
        Assert.Contains("--synthetic", lines[^1]);
    }

    [Fact]
    public void Device_cuda_without_cuda_is_one_line_and_a_failure()
    {
        SkipWithCuda();
        UserError e = Error("7", "--synthetic", "--device", "cuda");
        Assert.StartsWith("--device cuda: no CUDA device", e.Message);
        Assert.Equal(Cli.Failed, e.ExitCode);
    }

    [Fact]
    public void Tiny_synthetic_run_on_the_cpu_gives_the_same_ids_paged_and_naive()
    {
        string pagedJson = Path.Combine(_dir, "paged.json"), naiveJson = Path.Combine(_dir, "naive.json");
        string[] common = ["4", "--synthetic", "--model", "tiny", "--device", "cpu", "--max-new-tokens", "40", "--seed", "3"];

        (int pagedCode, string pagedOut) = Run([.. common, "--json", pagedJson]);
        (int naiveCode, string naiveOut) = Run([.. common, "--naive", "--json", naiveJson]);

        Assert.Equal(0, pagedCode);
        Assert.Equal(0, naiveCode);
        using JsonDocument paged = JsonDocument.Parse(File.ReadAllText(pagedJson)), naive = JsonDocument.Parse(File.ReadAllText(naiveJson));
        JsonElement[] pagedResults = [.. paged.RootElement.GetProperty("results").EnumerateArray()];
        JsonElement[] naiveResults = [.. naive.RootElement.GetProperty("results").EnumerateArray()];
        Assert.Equal(4, pagedResults.Length);
        int[] prompts = [44, 27, 72, 101];
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(prompts[i], pagedResults[i].GetProperty("prompt_tokens").GetInt32());
            int[] ids = [.. pagedResults[i].GetProperty("generated").EnumerateArray().Select(x => x.GetInt32())];
            Assert.Equal(40, ids.Length); // synthetic requests ignore stop tokens and stop at the cap
            Assert.Equal(ids, naiveResults[i].GetProperty("generated").EnumerateArray().Select(x => x.GetInt32()));
            Assert.False(string.IsNullOrEmpty(pagedResults[i].GetProperty("text").GetString()));
        }

        // Tiny shape, float32: 2 (K, V) × 2 layers × 2 KV heads × 16 × 4 bytes = 512 bytes a token.
        // Paged: one 256-token block per request; the seed's figure is the empty slots of each last block at the end,
        // 256 − (prompt + 40 − 1) each. Naive: (8192 − 40 answer tokens) per request.
        JsonElement pagedKv = paged.RootElement.GetProperty("kv"), naiveKv = naive.RootElement.GetProperty("kv");
        Assert.Equal(4, pagedKv.GetProperty("total_blocks").GetInt32());
        Assert.Equal(4, pagedKv.GetProperty("peak_blocks").GetInt32());
        Assert.Equal((173 + 190 + 145 + 116) * 512L, pagedKv.GetProperty("seed_fragmented_bytes").GetInt64());
        Assert.Equal(4 * (8192 - 40) * 512L, naiveKv.GetProperty("seed_fragmented_bytes").GetInt64());
        Assert.Equal(4 * 8192 * 512L, naiveKv.GetProperty("allocated_bytes").GetInt64());
        Assert.Equal(160, paged.RootElement.GetProperty("generated_tokens").GetInt32());
        Assert.Equal(39, paged.RootElement.GetProperty("decode_steps").GetInt32()); // the prefill produces the first token
        double[] passes = [.. paged.RootElement.GetProperty("prefill_pass_seconds").EnumerateArray().Select(x => x.GetDouble())];
        Assert.Equal(paged.RootElement.GetProperty("prefill_passes").GetInt32(), passes.Length);
        Assert.Equal(paged.RootElement.GetProperty("prefill_seconds").GetDouble(), passes.Sum(), 3);

        Assert.Contains("layer kernels: eager TorchSharp operations (fused unavailable: they run on CUDA only)", pagedOut);
        Assert.Equal("auto", paged.RootElement.GetProperty("kernels").GetString());
        Assert.Contains("Fragmented Memory: 0.00 GB (0.00%)", pagedOut);
        Assert.Contains("KV cache (paged): peak 0.00 GB reserved, 4/4 blocks of 256 used at peak", pagedOut);
        Assert.Contains("Generated 160 tokens for 4 request(s)", pagedOut);
        Assert.Contains("KV cache (naive): peak 0.02 GB reserved, 4 rows of 8,192 tokens", naiveOut);
        Assert.Equal(4, pagedOut.Split('\n').Count(l => l == new string('-', 50)));
    }

    [Theory]
    [InlineData("N", "0")]
    [InlineData("--block-size", "7", "--block-size", "0")]
    [InlineData("--max-new-tokens", "7", "--max-new-tokens", "0")]
    [InlineData("--model", "7", "--synthetic", "--model", "huge")]
    [InlineData("--json", "7", "--json", "-")]
    [InlineData("--kernels fused", "7", "--synthetic", "--model", "tiny", "--device", "cpu", "--kernels", "fused")]
    [InlineData("--sharegpt", "7", "--sharegpt", "/nonexistent/sharegpt.json")]
    [InlineData("--json", "7", "--json", "/nonexistent/dir/run.json")]
    [InlineData("--model", "7", "--model", "/nonexistent/llama")]
    public void Bad_arguments_give_one_line_naming_the_argument(string named, params string[] args)
    {
        UserError e = Error(args);
        Assert.StartsWith(named, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.NotEqual(0, e.ExitCode);
    }

    [Fact]
    public void Attention_paged_without_cuda_is_one_line_naming_the_option()
    {
        SkipWithCuda();
        UserError e = Error("4", "--synthetic", "--model", "tiny", "--device", "cpu", "--attention", "paged");
        Assert.StartsWith("--attention paged: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_failed_run_writes_no_json()
    {
        string json = Path.Combine(_dir, "run.json");
        Error("4", "--synthetic", "--model", "tiny", "--device", "cpu", "--attention", "flash", "--json", json);
        Assert.False(File.Exists(json));
    }
}
