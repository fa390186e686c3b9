using PagedSim.Allocator.Simulation;
using PagedSim.Web.Planner;

namespace PagedSim.Web.Tests;

public class PlannerSetupTests
{
    private static string Error(PlannerInputs inputs, UploadedTrace? upload = null) =>
        Assert.Throws<PlannerInputException>(() => PlannerSetup.Resolve(inputs, upload)).Message;

    [Fact]
    public void DefaultsAreSimulatesDefaults()
    {
        PlannerPlan plan = PlannerSetup.Resolve(new PlannerInputs(), null);
        var expected = new SimulationConfig(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.Rtx4090, "bf16", 1, OverheadModel.Default));
        Assert.Equal(expected with { Scheduler = plan.Config.Scheduler }, plan.Config);
        Assert.Equal(99, plan.Requests.Count);
        Assert.Equal("sharegpt-llama3.trace.json", plan.Trace.Source);
        Assert.Equal(TraceFile.Read(Repository.Path("fixtures/sharegpt-llama3.trace.json")).Requests, plan.Trace.Requests);
        Assert.Equal(20, plan.SweepSizes.Count);
        Assert.Equal(GpuSpec.Rtx4090.TotalMemoryBytes / 2, plan.SweepSizes[0]);
        Assert.Equal(GpuSpec.Rtx4090.TotalMemoryBytes * 2, plan.SweepSizes[^1]);
    }

    [Theory]
    [InlineData("custom", "24XB", "GPU memory: \"24XB\" is not a size")]
    [InlineData("custom", "0", "GPU memory: \"0\" must be a positive size")]
    [InlineData("custom", "5PB", "GPU memory: \"5PB\" is not a size")]
    [InlineData("custom", "2000TB", "GPU memory: \"2000TB\" is more than a petabyte")]
    [InlineData("gtx480", "", "GPU: unknown GPU \"gtx480\"")]
    public void BadGpusAreOneLine(string gpu, string memory, string start) =>
        Assert.StartsWith(start, Error(new PlannerInputs { Gpu = gpu, GpuMemory = memory }));

    [Fact]
    public void BadSettingsNameTheirField()
    {
        Assert.StartsWith("tensor parallelism: --tp 3 does not divide the 32 attention heads", Error(new PlannerInputs { TensorParallel = "3" }));
        Assert.StartsWith("block size: must be positive, got 0", Error(new PlannerInputs { BlockSize = "0" }));
        Assert.StartsWith("block size: Block size must not exceed", Error(new PlannerInputs { BlockSize = "9000" }));
        Assert.StartsWith("requests: the trace sharegpt-llama3.trace.json has 99 request(s)", Error(new PlannerInputs { Requests = "100" }));
        Assert.StartsWith("sweep points: give 2 to 200, got 1", Error(new PlannerInputs { SweepPoints = "1" }));
        Assert.StartsWith("sweep: \"to\"", Error(new PlannerInputs { SweepFrom = "80GB", SweepTo = "40GB" }));
        Assert.StartsWith("synthetic requests: \"lots\" is not a whole number", Error(new PlannerInputs { Trace = TraceChoice.Synthetic, SyntheticCount = "lots" }));
        Assert.StartsWith("The seed's settings apply to the static experiment only", Error(new PlannerInputs { Mode = "continuous", SeedCompatible = true }));
    }

    [Fact]
    public void BrokenPastedConfigIsOneLine()
    {
        string message = Error(new PlannerInputs { Model = PlannerInputs.PastedModel, ModelConfig = "{ \"hidden_size\": 4096," });
        Assert.StartsWith("model config: malformed JSON", message);
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith("model config: missing \"num_hidden_layers\"", Error(new PlannerInputs { Model = PlannerInputs.PastedModel, ModelConfig = "{ \"hidden_size\": 4096 }" }));
        Assert.StartsWith("model config: paste", Error(new PlannerInputs { Model = PlannerInputs.PastedModel }));
    }

    [Fact]
    public void UploadedTracesAreReadAndChecked()
    {
        var upload = new UploadedTrace("mine.json", File.ReadAllBytes(Repository.Path("fixtures/sharegpt-llama3.trace.json")));
        PlannerPlan plan = PlannerSetup.Resolve(new PlannerInputs { Trace = TraceChoice.Upload, Requests = "7" }, upload);
        Assert.Equal("mine.json", plan.Trace.Source);
        Assert.Equal(7, plan.Requests.Count);

        Assert.StartsWith("trace file: choose", Error(new PlannerInputs { Trace = TraceChoice.Upload }));
        Assert.StartsWith("trace file bad.json: malformed JSON", Error(new PlannerInputs { Trace = TraceChoice.Upload }, new UploadedTrace("bad.json", "{ nope"u8.ToArray())));
        string tooLong = """{ "format": "pagedsim-trace/1", "requests": [ { "id": "x", "prompt_tokens": 8000, "output_tokens": 500 } ] }""";
        Assert.Equal("trace file long.json: request x: 8000 prompt + 500 output tokens exceed the max sequence length 8192",
            Error(new PlannerInputs { Trace = TraceChoice.Upload }, new UploadedTrace("long.json", System.Text.Encoding.UTF8.GetBytes(tooLong))));
    }
}
