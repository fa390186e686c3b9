using System.CommandLine;
using System.Text.Json;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary><c>simulate</c>'s time figures in text and JSON, and <c>--sweep</c>'s table, JSON, plot and bad syntax.</summary>
[Collection(ConsoleCaptureCollection.Name)]
public sealed class SimulateTimeOutputTests
{
    private static string Simulate(params string[] args)
    {
        var stdout = Console.Out;
        var writer = new StringWriter();
        Console.SetOut(writer);
        try
        {
            RootCommand root = RunCommand.Create(TextWriter.Null, TextWriter.Null, interactive: false);
            root.Subcommands.Add(SimulateCommand.Create());
            ParseResult parse = root.Parse(["simulate", .. args]);
            Assert.Empty(parse.Errors);
            Assert.Equal(0, parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
        }
        finally
        {
            Console.SetOut(stdout);
        }
        return writer.ToString();
    }

    private static string Error(params string[] args)
    {
        RootCommand root = RunCommand.Create(TextWriter.Null, TextWriter.Null, interactive: false);
        root.Subcommands.Add(SimulateCommand.Create());
        ParseResult parse = root.Parse(["simulate", .. args]);
        return Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false })).Message;
    }

    [Fact]
    public void Json_carries_the_predicted_time_of_both_caches_in_snake_case()
    {
        using JsonDocument doc = JsonDocument.Parse(Simulate("--gpu", "h200", "--requests", "49", "--json", "-"));
        JsonElement root = doc.RootElement;
        Assert.StartsWith("measured on NVIDIA H200", root.GetProperty("time_model").GetProperty("provenance").GetString());
        TimingResult expected = StaticTiming.Run(StepTimeModel.For(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.H200, "bf16", 1, OverheadModel.Default))!,
            [.. TestTraces.ShareGpt.Requests.Take(49).Select(r => (r.PromptTokens, r.OutputTokens))]);
        foreach (string cache in new[] { "paged", "naive" })
        {
            JsonElement time = root.GetProperty(cache).GetProperty("time");
            Assert.Equal(expected.TokensPerSecond, time.GetProperty("tokens_per_second").GetDouble(), 1e-9);
            Assert.Equal(12_003, time.GetProperty("generated_tokens").GetInt64());
            Assert.Equal(44, time.GetProperty("prefill_passes").GetInt64());
            Assert.Equal(1072, time.GetProperty("decode_passes").GetInt64());
            Assert.True(time.GetProperty("ttft_seconds").GetProperty("p90").GetDouble() >= time.GetProperty("ttft_seconds").GetProperty("p50").GetDouble());
            Assert.True(time.GetProperty("tpot_seconds").GetProperty("p50").GetDouble() > 0);
        }
    }

    [Fact]
    public void Text_shows_time_rows_and_where_the_figures_come_from()
    {
        string text = Simulate("--gpu", "a100-80gb", "--mode", "continuous", "--synthetic-requests", "300", "--seed", "2", "--block-size", "16");
        Assert.Contains("  time    ", text);
        Assert.Contains("datasheet-scaled: a100-80gb's datasheet figures × the efficiencies measured on h200", text);
        foreach (string row in new[] { "predicted wall time", "tokens/s", "TTFT p50 / p90", "TPOT p50 / p90" })
            Assert.Contains(text.Split('\n'), l => l.TrimStart().StartsWith(row, StringComparison.Ordinal));
    }

    [Fact]
    public void A_size_alone_says_why_there_is_no_time_and_a_chip_with_a_size_has_one()
    {
        Assert.Contains("not predicted: a memory size alone has no chip figures (add --gpu NAME)", Simulate("--gpu-mem", "80GB", "--requests", "7"));
        string text = Simulate("--gpu", "h200", "--gpu-mem", "80GB", "--requests", "7");
        Assert.Contains("gpu     h200 with 80GB: 80,000,000,000 bytes", text);
        Assert.Contains("measured on NVIDIA H200", text);
    }

    [Fact]
    public void A_memory_sweep_tabulates_batches_and_speed_and_draws_one_plot()
    {
        string png = Path.Combine(Path.GetTempPath(), $"pagedsim-sweep-{Guid.NewGuid():N}.png");
        try
        {
            string text = Simulate("--gpu", "h200", "--sweep", "gpu-mem=40GB:100GB:20GB", "--plot", png);
            string[] rows = [.. text.Split('\n').Where(l => l.TrimStart().StartsWith("h200 with", StringComparison.Ordinal))];
            Assert.Equal(["h200 with 40GB", "h200 with 60GB", "h200 with 80GB", "h200 with 100GB"], rows.Select(r => r.Trim()[..r.Trim().IndexOf("  ", StringComparison.Ordinal)]));
            Assert.True(new FileInfo(png).Length > 10_000);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);
        }
        finally
        {
            File.Delete(png);
        }

        using JsonDocument doc = JsonDocument.Parse(Simulate("--gpu", "h200", "--sweep", "gpu-mem=40GB,80GB", "--json", "-"));
        JsonElement[] points = [.. doc.RootElement.GetProperty("points").EnumerateArray()];
        Assert.Equal("pagedsim-sweep/1", doc.RootElement.GetProperty("format").GetString());
        Assert.Equal([40_000_000_000L, 80_000_000_000L], points.Select(p => p.GetProperty("total_memory_bytes").GetInt64()));
        // Each point's figures are the simulator's own max-batch search and static timing at that size.
        var config = new SimulationConfig(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.H200 with { TotalMemoryBytes = 80_000_000_000 }, "bf16", 1, OverheadModel.Default));
        int pagedMax = MaxBatchSearch.Run(config, TestTraces.ShareGpt, paged: true).MaxBatch;
        Assert.Equal(pagedMax, points[1].GetProperty("paged").GetProperty("max_batch").GetInt32());
        double tokens = Simulator.RunPaged(config, Simulator.FirstRequests(TestTraces.ShareGpt, pagedMax), predictTime: true).Timing!.TokensPerSecond;
        Assert.Equal(tokens, points[1].GetProperty("paged").GetProperty("time").GetProperty("tokens_per_second").GetDouble(), 1e-9);
        // More memory: larger batches, paged ahead of naive.
        Assert.True(points[1].GetProperty("paged").GetProperty("max_batch").GetInt32() > points[0].GetProperty("paged").GetProperty("max_batch").GetInt32());
        Assert.True(points[1].GetProperty("paged").GetProperty("max_batch").GetInt32() > points[1].GetProperty("naive").GetProperty("max_batch").GetInt32());
    }

    [Fact]
    public void A_preset_sweep_lists_each_gpu_with_measured_or_datasheet_scaled_figures()
    {
        string text = Simulate("--sweep", "gpu=h100-80gb,h200");
        Assert.Contains(text.Split('\n'), l => l.TrimStart().StartsWith("h100-80gb", StringComparison.Ordinal) && l.TrimEnd().EndsWith("datasheet-scaled", StringComparison.Ordinal));
        Assert.Contains(text.Split('\n'), l => l.TrimStart().StartsWith("h200", StringComparison.Ordinal) && l.TrimEnd().EndsWith("measured", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gpu-mem", "is not a sweep")]
    [InlineData("memory=16GB:32GB", "unknown sweep \"memory\"")]
    [InlineData("gpu-mem=16GB:8GB", "8GB is below 16GB")]
    [InlineData("gpu-mem=16XB:32GB", "\"16XB\" is not a size")]
    [InlineData("gpu-mem=1:2:3:4", "give FROM:TO or FROM:TO:STEP")]
    [InlineData("gpu-mem=1GB:1TB:1MB", "more than 200 points")]
    [InlineData("gpu=h200,tpu", "unknown GPU \"tpu\"")]
    public void Bad_sweeps_are_one_line_naming_the_option(string sweep, string expected)
    {
        string message = Error("--sweep", sweep);
        Assert.StartsWith("--sweep: ", message);
        Assert.Contains(expected, message);
        Assert.DoesNotContain('\n', message);
    }
}
