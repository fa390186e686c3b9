using PagedSim.Web.Planner;

namespace PagedSim.Web.Tests;

public class PlannerQueryTests
{
    [Fact]
    public void DefaultsMakeAnEmptyQuery() => Assert.Equal("", PlannerQuery.Format(new PlannerInputs()));

    [Fact]
    public void EveryInputSurvivesTheLink()
    {
        var inputs = new PlannerInputs
        {
            Gpu = PlannerInputs.CustomGpu, GpuMemory = "81559MiB", Model = PlannerInputs.PastedModel,
            ModelConfig = "{\n  \"hidden_size\": 4096, \"name\": \"ünïcode & = ? + /\"\n}", DType = "fp8", TensorParallel = "4",
            Overhead = "2GiB", Trace = TraceChoice.Synthetic, Requests = "12", SyntheticCount = "5000", Seed = "-3",
            BlockSize = "16", Mode = "continuous", SeedCompatible = true, SweepFrom = "10GB", SweepTo = "1TB", SweepPoints = "7",
        };
        string query = PlannerQuery.Format(inputs);
        Assert.DoesNotContain(' ', query);
        Assert.Equal(inputs, PlannerQuery.Parse("?" + query));
    }

    [Fact]
    public void OnlyChangedInputsAreWritten() =>
        Assert.Equal("block=16&seed_compat=1", PlannerQuery.Format(new PlannerInputs { BlockSize = "16", SeedCompatible = true }));

    [Fact]
    public void UnknownKeysAndValuesFallBackToDefaults()
    {
        PlannerInputs parsed = PlannerQuery.Parse("?foo=bar&trace=nonsense&tp=2");
        Assert.Equal(new PlannerInputs { TensorParallel = "2" }, parsed);
    }
}
