using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// Llama 3 from 1B to 70B on one GPU (synthetic bf16 weights, the main job as a user runs it): the runner's peak
/// device memory against its prediction (within 1%), and the largest batch <c>--find-max-batch</c> finds against the
/// simulator's (naive within one request, paged within 2%). Each run is a process of its own, as a user starts it, on
/// an idle device: run the class alone (earlier tests' cached memory would count in a run's peak). Each case skips
/// without CUDA, without an idle device, or without room for its model's weights; Llama 3 70B needs a 141 GB device
/// (an H200).
/// </summary>
[Collection(RunnerGpuCollection.Name)]
public sealed partial class ModelSizeTests(ITestOutputHelper output)
{
    /// <summary>The issue's target for the runner's peak memory.</summary>
    public const double PeakTolerance = 0.01;

    [Theory]
    [InlineData("llama3.2-1b", 49, false, 256)] // head dim 64: the reference attention takes every pass
    [InlineData("llama3.2-3b", 49, false, 256)]
    [InlineData("llama3.2-3b", 49, true, 256)]
    [InlineData("llama3-8b", 49, false, 256)]
    [InlineData("llama3-8b", 49, true, 256)]
    [InlineData("llama3-8b", 49, false, 16)]    // prompts on flash over gathered blocks, decode on the paged kernel
    [InlineData("llama3-8b", 49, false, 256, true)] // ragged prefill: passes near 8,192 tokens of several lengths
    [InlineData("llama3-70b", 3, false, 256)]
    [InlineData("llama3-70b", 2, true, 256)]
    public void Runner_peak_memory_is_predicted_within_one_percent(string model, int n, bool naive, int blockSize, bool ragged = false)
    {
        SkipUnlessRoomFor(model);
        string json = Path.Combine(Path.GetTempPath(), $"pagedsim-peak-{model}-{n}-{Environment.ProcessId}.json");
        List<string> args = [n.ToString(CultureInfo.InvariantCulture), "--synthetic", "--model", model, "--block-size",
            blockSize.ToString(CultureInfo.InvariantCulture), "--max-new-tokens", "64", "--no-responses", "--json", json];
        if (naive) args.Add("--naive");
        if (ragged) args.AddRange(["--prefill", "ragged"]);
        string console = Run(args);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            JsonElement memory = doc.RootElement.GetProperty("memory");
            long predicted = memory.GetProperty("predicted_runner_peak_bytes").GetInt64();
            long measured = memory.GetProperty("measured_peak_device_bytes").GetInt64();
            output.WriteLine(console);
            output.WriteLine($"{model} N = {n} {(naive ? "naive" : $"paged, block {blockSize}")}{(ragged ? ", ragged prefill" : "")}: runner peak predicted {predicted / 1e9:F2} GB, " +
                $"measured {measured / 1e9:F2} GB ({100.0 * (predicted - measured) / measured:+0.00;-0.00}%)");
            Assert.InRange((double)predicted / measured, 1 - PeakTolerance, 1 + PeakTolerance);
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Theory]
    [InlineData("llama3.2-3b", true)]
    [InlineData("llama3-8b", true)]
    [InlineData("llama3-8b", false)]
    [InlineData("llama3-70b", true)]
    [InlineData("llama3-70b", false)]
    public void Largest_batch_is_the_simulators(string model, bool naive)
    {
        SkipUnlessRoomFor(model);
        List<string> args = ["49", "--synthetic", "--model", model, "--find-max-batch", "--no-responses"];
        if (naive) args.Add("--naive");
        string console = Run(args);
        output.WriteLine(console);
        Match m = MaxBatchLine().Match(console);
        Assert.True(m.Success, "no 'Max batch … measured N; predicted M' line");
        int measured = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), predicted = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        output.WriteLine($"{model} {(naive ? "naive" : "paged")}: max batch measured {measured}, predicted {predicted}");
        if (naive) Assert.InRange(measured, predicted - 1, predicted + 1);
        else Assert.InRange(measured, (int)Math.Floor(predicted * 0.98), (int)Math.Ceiling(predicted * 1.02));
    }

    [GeneratedRegex(@"Max batch on .*: measured (\d+); predicted (\d+)")]
    private static partial Regex MaxBatchLine();

    private string Run(List<string> args)
    {
        RunnerProcess.Result r = RunnerProcess.Run(args, TimeSpan.FromMinutes(8));
        if (r.ExitCode != 0) output.WriteLine(r.Stdout);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr.Trim()}");
        return r.Stdout;
    }

    /// <summary>Skips without CUDA, without an idle device, or when the device cannot hold the model's bf16 weights and 4 GB beside them.</summary>
    private static void SkipUnlessRoomFor(string model)
    {
        CudaDevice.SkipUnlessAvailable();
        var (free, total) = RunDeviceMemory.Query() ?? throw new InvalidOperationException("the CUDA driver does not report memory");
        RunnerProcess.SkipUnlessDeviceIdle(total, free);
        ModelSpec spec = ModelSpec.Presets.Single(p => p.Name == model);
        long needed = new MemoryModel(spec, new GpuSpec("this GPU", total, "driver"), "bf16", 1, OverheadModel.Default).WeightBytes + 4_000_000_000;
        Assert.SkipWhen(total < needed, $"{model} needs {needed / 1e9:F1} GB of device memory; this device has {total / 1e9:F1} GB");
    }
}
