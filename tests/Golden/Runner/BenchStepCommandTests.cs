using PagedSim.Allocator.Simulation;
using System.Text.Json;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Runner;

/// <summary><c>bench-step</c> on the CPU (tiny synthetic weights): a row per batch size, its JSON, and bad arguments.</summary>
public sealed class BenchStepCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Reports_each_batch_size_in_text_and_json()
    {
        string json = Path.Combine(_dir, "bench.json");
        var console = new StringWriter();

        int rc = BenchStepCommand.Run("1,3", 20, 2, "cpu", null, "auto", "auto", 3.35, json, console);

        Assert.Equal(0, rc);
        string text = console.ToString();
        Assert.Contains("synthetic tiny weights", text);
        Assert.Contains("| 1 | 20 |", text);
        Assert.Contains("| 3 | 20 |", text);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("pagedsim-bench-step/1", doc.RootElement.GetProperty("format").GetString());
        JsonElement[] rows = [.. doc.RootElement.GetProperty("results").EnumerateArray()];
        Assert.Equal([1, 3], rows.Select(r => r.GetProperty("batch").GetInt32()));
        foreach (JsonElement r in rows)
        {
            Assert.True(r.GetProperty("sync_ms_per_step").GetDouble() > 0);
            Assert.True(r.GetProperty("back_to_back_ms_per_step").GetDouble() > 0);
        }
        // More sequences read more KV bytes; the weights are the same.
        Assert.True(rows[1].GetProperty("bytes_read").GetInt64() > rows[0].GetProperty("bytes_read").GetInt64());
    }

    [Fact]
    public void Writes_the_points_the_time_calibration_reads_for_every_context()
    {
        string json = Path.Combine(_dir, "points.json");
        int rc = BenchStepCommand.Run("1,2", "16,40", 2, "cpu", null, "auto", "auto", 3.35, json, TextWriter.Null);

        Assert.Equal(0, rc);
        string text = File.ReadAllText(json);
        IReadOnlyList<DecodePoint> points = StepTimeCalibration.ReadDecodePoints(text);
        Assert.Equal([(1, 16), (2, 16), (1, 40), (2, 40)], points.Select(p => (p.Batch, p.Context)));
        JsonElement[] rows = [.. JsonDocument.Parse(text).RootElement.GetProperty("results").EnumerateArray()];
        for (int i = 0; i < rows.Length; i++)
            Assert.Equal(rows[i].GetProperty("back_to_back_ms_per_step").GetDouble() / 1e3, points[i].Seconds, 6e-6);
        Assert.Throws<FormatException>(() => StepTimeCalibration.ReadDecodePoints("{\"format\": \"pagedsim-bench-step/1\"}"));
    }

    [Theory]
    [InlineData("0", 8, "--batch")]
    [InlineData("1,x", 8, "--batch")]
    [InlineData("1", 0, "--context")]
    public void Bad_arguments_get_one_line_naming_the_option(string batches, int context, string option)
    {
        string json = Path.Combine(_dir, "never.json");
        UserError e = Assert.Throws<UserError>(() => BenchStepCommand.Run(batches, context, 2, "cpu", null, "auto", "auto", 3.35, json, TextWriter.Null));

        Assert.StartsWith(option, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(File.Exists(json));
    }

    [Fact]
    public void Prefill_passes_report_their_time_and_the_flops_counted_by_hand()
    {
        string json = Path.Combine(_dir, "prefill.json");
        var console = new StringWriter();

        int rc = BenchStepCommand.Run("1", "16", 2, "cpu", null, "auto", "auto", null, json, console, prefillList: "1x16,3x16");

        Assert.Equal(0, rc);
        Assert.Contains("| 3 | 16 | 48 |", console.ToString());
        JsonElement[] rows = [.. JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("prefill_passes").EnumerateArray()];
        Assert.Equal([(1, 16), (3, 16)], rows.Select(r => (r.GetProperty("prompts").GetInt32(), r.GetProperty("tokens_each").GetInt32())));
        Assert.All(rows, r => Assert.True(r.GetProperty("seconds").GetDouble() > 0 && r.GetProperty("first_seconds").GetDouble() > 0));
        // The tiny shape: a layer holds 64 + 8 × 16 × 64 + 64 × 64 + 64 + 2 × 128 × 64 + 64 × 128 = 36,992 weights (2 layers);
        // the head 128,256 × 64; attention 4 × 2 layers × 4 heads × 16 per (query, key), 16 × 17 / 2 pairs a prompt.
        static double Expected(int prompts) => 2.0 * 73_984 * 16 * prompts + 2.0 * 128_256 * 64 * prompts + 4.0 * 2 * 4 * 16 * 136 * prompts;
        Assert.Equal(Expected(1), rows[0].GetProperty("flops").GetDouble());
        Assert.Equal(Expected(3), rows[1].GetProperty("flops").GetDouble());
    }

    [Theory]
    [InlineData("3y4", "is not B prompts x L tokens")]
    [InlineData("0x16", "is not B prompts x L tokens")]
    [InlineData("1x9000", "exceed the 8,192 positions")]
    [InlineData("100x8192", "819,200 tokens in one pass")]
    public void Bad_prefill_passes_get_one_line(string passes, string expected)
    {
        UserError e = Assert.Throws<UserError>(() => BenchStepCommand.Run("1", "16", 2, "cpu", null, "auto", "auto", null, null, TextWriter.Null, prefillList: passes));

        Assert.StartsWith("--prefill-passes: ", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
