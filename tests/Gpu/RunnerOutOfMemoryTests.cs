using System.CommandLine;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Gpu.Tests;

/// <summary>A naive batch the simulator says does not fit on this GPU really runs out of memory, reported in one line.</summary>
[Collection(RunnerGpuCollection.Name)]
public sealed class RunnerOutOfMemoryTests(ITestOutputHelper output)
{
    [Fact]
    public void Naive_batch_beyond_the_predicted_maximum_fails_with_one_clear_line()
    {
        CudaDevice.SkipUnlessAvailable();
        var (_, total) = RunDeviceMemory.Query() ?? throw new InvalidOperationException("the CUDA driver does not report memory");
        var memory = new MemoryModel(ModelSpec.Llama3_8B, new GpuSpec("this GPU", total, "driver"), "bf16", 1, OverheadModel.Default);
        Trace trace = TraceFile.Read(Fixtures.Path("sharegpt-llama3.trace.json"));
        int n = MaxBatchSearch.Run(new SimulationConfig(memory), trace, paged: false).MaxBatch + 4; // 4 GiB of rows beyond it
        var console = new StringWriter();
        ParseResult parse = RunCommand.Create(console, TextWriter.Null, interactive: false)
            .Parse([n.ToString(), "--synthetic", "--naive", "--no-responses", "--max-new-tokens", "4", "--json", Path.Combine(Path.GetTempPath(), $"pagedsim-oom-{Environment.ProcessId}.json")]);

        var error = Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));

        output.WriteLine(console.ToString());
        output.WriteLine(error.Message);
        Assert.Contains("naive: does not fit", console.ToString());
        Assert.StartsWith("CUDA out of memory while ", error.Message);
        Assert.Matches(@"tried to allocate [0-9.]+ ?[KMG]iB, [0-9.]+ ?[KMG]iB free of", error.Message);
        Assert.Contains("by the simulator's model", error.Message); // the memory the run needs
        Assert.DoesNotContain('\n', error.Message);
        Assert.Equal(Cli.Failed, error.ExitCode);
        Assert.False(File.Exists(Path.Combine(Path.GetTempPath(), $"pagedsim-oom-{Environment.ProcessId}.json")), "nothing half-written");
    }
}
