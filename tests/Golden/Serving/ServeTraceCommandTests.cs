using System.Text.Json;
using PagedSim.Allocator.Simulation;
using PagedSim.Golden.Tests.Model;
using PagedSim.Model.Generation;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Serving;

/// <summary>The <c>serve-trace</c> command on the tiny model: a run that preempts, its JSON and plot, parallel sampling,
/// and one clear line for bad arguments.</summary>
public sealed class ServeTraceCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-serve-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TraceFilePath(params (int Prompt, int Output)[] lengths)
    {
        string path = Path.Combine(_dir, "small.trace.json");
        if (lengths.Length == 0) lengths = [(9, 14), (20, 6), (5, 18), (13, 11), (30, 4), (7, 16)];
        var requests = lengths.Select((r, i) => new TraceRequest($"r{i}", r.Prompt, r.Output)).ToArray();
        File.WriteAllText(path, TraceFile.ToJson(new Trace(requests, "small")));
        return path;
    }

    private ServeTraceSettings Settings(string? model = "meta", bool synthetic = false, string requests = "all", string? kvBudget = null,
        int? blocks = 16, int blockSize = 4, int samples = 1, double temperature = 0, string? json = null, string? plot = null, string? trace = null) =>
        new(model is null ? null : synthetic ? model : TinyLlama.Dir(model), synthetic, trace ?? TraceFilePath(), requests, kvBudget, blocks, blockSize, 256, samples,
            new SamplingOptions(temperature, 1.0, 0), "cpu", json, plot);

    [Fact]
    public void RunThatPreemptsMatchesTheSimulatorAndWritesJsonAndPlot()
    {
        string json = Path.Combine(_dir, "serve.json"), plot = Path.Combine(_dir, "serve.png");
        var console = new StringWriter();

        int rc = ServeTraceCommand.Run(Settings(json: json, plot: plot), console);

        Assert.Equal(0, rc);
        Assert.Contains("completed    6/6", console.ToString());
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.Equal("pagedsim-serve/1", root.GetProperty("format").GetString());
        Assert.True(root.GetProperty("preemptions").GetInt32() > 0);
        Assert.Equal(root.GetProperty("prediction").GetProperty("preemptions").GetInt32(), root.GetProperty("preemptions").GetInt32());
        Assert.Equal(root.GetProperty("prediction").GetProperty("steps").GetInt64(), root.GetProperty("steps").GetInt64());
        Assert.Equal(root.GetProperty("prediction").GetProperty("peak_blocks").GetInt32(), root.GetProperty("peak_blocks").GetInt32());
        Assert.Equal(new[] { 14, 6, 18, 11, 4, 16 }, root.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("output_tokens").GetInt32()));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(plot).Take(4));
    }

    [Fact]
    public void ParallelSamplingReportsSavingAndEqualSamples()
    {
        string json = Path.Combine(_dir, "samples.json");
        var console = new StringWriter();

        string trace = TraceFilePath((9, 4), (20, 4), (5, 4));
        ServeTraceCommand.Run(Settings(blocks: null, samples: 3, temperature: 0.9, json: json, trace: trace), console);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        Assert.Equal(0, root.GetProperty("mismatched_samples").GetInt32());
        // Prompts of 9, 20 and 5 tokens in blocks of 4, 4 new tokens each, all running from step 1. From step 2 on
        // (after the copies of the partial blocks) the shared run holds 5 + 8 + 4 = 17 blocks, three independent copies
        // 3 · (3 + 6 + 2) = 33: saved (K − 1) · (2 + 5 + 1) = 16 full prompt blocks.
        Assert.Equal(16, root.GetProperty("saved_blocks").GetInt32());
        Assert.Equal(16, root.GetProperty("predicted_saved_blocks").GetInt32());
        Assert.Contains("samples equal to the independent run token for token: 9/9", console.ToString());
    }

    [Fact]
    public void PrefixCachingRunReportsTheMeasuredAndPredictedHitRate()
    {
        string json = Path.Combine(_dir, "prefix.json"), trace = Path.Combine(_dir, "multi.trace.json");
        TraceRequest[] turns = PrefixCachingServingTests.ShortConversations(int.MaxValue); // the trace's own ids
        File.WriteAllText(trace, TraceFile.ToJson(new Trace(turns, "short conversations", ThinkSteps: 0)));
        var console = new StringWriter();

        int rc = ServeTraceCommand.Run(Settings(trace: trace, blocks: 20, blockSize: 16, json: json) with { PrefixCaching = true }, console);

        Assert.Equal(0, rc);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement prefix = doc.RootElement.GetProperty("prefix_cache");
        Assert.True(prefix.GetProperty("cached_tokens").GetInt64() > 0);
        Assert.Equal(prefix.GetProperty("predicted_cached_tokens").GetInt64(), prefix.GetProperty("cached_tokens").GetInt64());
        Assert.Equal(doc.RootElement.GetProperty("prediction").GetProperty("steps").GetInt64(), doc.RootElement.GetProperty("steps").GetInt64());
        Assert.Contains("prompts are the trace's ids (mod 256)", console.ToString());
        Assert.Contains("% predicted", console.ToString());
    }

    // Block bytes of the tiny model: 2 (K, V) × 2 layers × 2 KV heads × 128 head dim × 4 bytes × 4 tokens = 16,384.
    // r4 (30 + 4 tokens) is admitted into 8 blocks with 31 tokens, is preempted when it needs a ninth at 33, and can
    // then never be recomputed.
    public static TheoryData<string, string> BadArguments => new()
    {
        { "neither", "no model: give --model DIR (a checkpoint), or --synthetic for random weights of --model's shape" },
        { "missing", "--model: /nonexistent-pagedsim does not exist (a checkpoint folder or a .gguf file)" },
        { "shape", $"--model: \"70b\" is not a shape for --synthetic weights; known: {string.Join(", ", ModelSpec.Presets.Select(m => m.Name))} or tiny" },
        { "requests", "--requests: expected a positive count or \"all\", got \"ten\"" },
        { "requests0", "--requests: request count must be 1 to 10,000,000, got 0" },
        { "blocks0", "--blocks: must be positive, got 0" },
        { "budget+blocks", "--kv-budget and --blocks: give one or the other" },
        { "budget", "--kv-budget: 1KB holds no block of 16,384 bytes (4 tokens)" },
        { "tooSmall", "--blocks: request r4: Request 4 needs 9 block(s) for 33 tokens (watermark included) but the pool has only 8." },
        { "samples", "--samples: must be positive, got 0" },
        { "temperature", "--temperature: must be 0 (greedy) or positive, got -1" },
        { "json", "--json: /nonexistent-pagedsim/x.json: directory /nonexistent-pagedsim does not exist" },
        { "jsonProc", "--json: /proc/x.json: cannot create a file in /proc (not a writable directory)" },
        { "plotTxt", "--plot: x.txt: the file name must end in .png (the only format written)" },
        { "blockSize", "--block-size: must be 1 to 8192 tokens, got 0" },
        { "flashOnCpu", "--attention flash: flash-attn runs on CUDA only" },
    };

    [Theory]
    [MemberData(nameof(BadArguments))]
    public void BadArgumentsAreOneClearLine(string which, string message)
    {
        ServeTraceSettings s = which switch
        {
            "neither" => Settings(model: null),
            "missing" => Settings() with { Model = "/nonexistent-pagedsim" },
            "shape" => Settings(model: "70b", synthetic: true),
            "requests" => Settings(requests: "ten"),
            "requests0" => Settings(requests: "0"),
            "blocks0" => Settings(blocks: 0),
            "budget+blocks" => Settings(kvBudget: "1MB"),
            "budget" => Settings(blocks: null, kvBudget: "1KB"),
            "tooSmall" => Settings(blocks: 8),
            "samples" => Settings(samples: 0),
            "temperature" => Settings(temperature: -1),
            "json" => Settings(json: "/nonexistent-pagedsim/x.json"),
            "jsonProc" => Settings(json: "/proc/x.json"),
            "plotTxt" => Settings(plot: "x.txt"),
            "blockSize" => Settings(blockSize: 0),
            "flashOnCpu" => Settings() with { Attention = "flash" },
            _ => throw new ArgumentException(which),
        };
        var console = new StringWriter();

        UserError e = Assert.Throws<UserError>(() => ServeTraceCommand.Run(s, console));

        Assert.Equal(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal("", console.ToString());
    }
}
