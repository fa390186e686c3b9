using BenchmarkDotNet.Attributes;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Bench;

/// <summary>
/// The event-driven simulator over synthetic ShareGPT-like requests (drawn from the committed trace's lengths).
/// Target: 100,000 requests in at most 1 s, cost linear in the request count (compare 25k / 50k / 100k).
/// Continuous: Llama 3 8B on an H100 80GB, block 16 (vLLM's usual size: many block boundaries), the default
/// scheduler; static: all requests at once, block 256 (the seed's), on a hypothetical 16 TB card so that every one fits.
/// The "Timed" variants also predict the run's time (<see cref="StepTimeModel"/>, summed over quiet spans in closed
/// form), which must not change the cost's order.
/// </summary>
[MemoryDiagnoser]
public class SimulatorBenchmarks
{
    private Trace _trace = null!;
    private SimulationConfig _continuous = null!, _static = null!;

    /// <summary>Synthetic requests per run.</summary>
    [Params(25_000, 50_000, 100_000)]
    public int Requests { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Trace shareGpt = TraceFile.Read(FindFixture("sharegpt-llama3.trace.json"), 8192);
        _trace = SyntheticTrace.Draw(shareGpt, Requests, seed: 1);
        var h100 = new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.FindPreset("h100-80gb")!, "bf16", 1, OverheadModel.Default);
        _continuous = new SimulationConfig(h100, 16, SimulationMode.Continuous);
        _static = new SimulationConfig(h100 with { Gpu = h100.Gpu with { Name = "16TB", TotalMemoryBytes = 16_000_000_000_000 } }, 256, SimulationMode.Static);
    }

    [Benchmark]
    public int ContinuousPaged() => Simulator.RunPaged(_continuous, _trace.Requests).Completed;

    [Benchmark]
    public int ContinuousNaive() => Simulator.RunNaive(_continuous, _trace.Requests).Completed;

    [Benchmark]
    public int StaticPaged() => Simulator.RunPaged(_static, _trace.Requests).Completed;

    [Benchmark]
    public double ContinuousPagedTimed() => Simulator.RunPaged(_continuous, _trace.Requests, predictTime: true).Timing!.WallSeconds;

    [Benchmark]
    public double ContinuousNaiveTimed() => Simulator.RunNaive(_continuous, _trace.Requests, predictTime: true).Timing!.WallSeconds;

    [Benchmark]
    public double StaticPagedTimed() => Simulator.RunPaged(_static, _trace.Requests, predictTime: true).Timing!.WallSeconds;

    private static string FindFixture(string name)
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "fixtures", name);
                if (File.Exists(candidate)) return candidate;
            }
        throw new FileNotFoundException($"fixtures/{name} not found above {Environment.CurrentDirectory}");
    }
}
