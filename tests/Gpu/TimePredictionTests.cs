using System.CommandLine;
using System.Text.Json;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// The time model against the GPU: the main job (<c>N --synthetic</c>, Llama-3-8B shape, paged, flash-attn) at
/// N = 1, 7, 49 and 128, predicted tokens/s within 5% of measured. Skips without CUDA, without flash-attn, and on a
/// GPU that matches no preset with time figures.
/// </summary>
[Collection(RunnerGpuCollection.Name)]
public sealed class TimePredictionTests(ITestOutputHelper output)
{
    /// <summary>The issue's target: every prediction within 5% of the measured tokens/s.</summary>
    public const double Tolerance = 0.05;

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(49)]
    [InlineData(128)]
    public void Predicted_tokens_per_second_is_within_five_percent_of_the_run(int n)
    {
        FlashAvailability.SkipUnlessAvailable();
        string device = RunDeviceMemory.Name() ?? "CUDA device";
        Assert.SkipWhen(GpuSpec.MatchDevice(device) is null, $"{device} matches no GPU preset with time figures");
        string json = Path.Combine(Path.GetTempPath(), $"pagedsim-time-{n}-{Environment.ProcessId}.json");
        var console = new StringWriter();
        ParseResult parse = RunCommand.Create(console, TextWriter.Null, interactive: false)
            .Parse([n.ToString(), "--synthetic", "--no-responses", "--json", json]);
        Assert.Equal(0, parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            JsonElement time = doc.RootElement.GetProperty("time");
            double predicted = time.GetProperty("predicted_tokens_per_second").GetDouble();
            double measured = time.GetProperty("measured_tokens_per_second").GetDouble();
            output.WriteLine(console.ToString());
            output.WriteLine($"{device}, N = {n}: predicted {predicted:F1} tokens/s, measured {measured:F1} ({100 * (predicted / measured - 1):+0.0;-0.0}%); {time.GetProperty("figures").GetString()}");
            Assert.InRange(predicted / measured, 1 - Tolerance, 1 + Tolerance);
        }
        finally
        {
            File.Delete(json);
        }
    }
}
