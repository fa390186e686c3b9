using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

public class SyntheticTraceTests
{
    [Fact]
    public void Draws_are_reproducible_and_come_from_the_source()
    {
        Trace a = SyntheticTrace.Draw(TestTraces.ShareGpt, 1000, 42), b = SyntheticTrace.Draw(TestTraces.ShareGpt, 1000, 42);
        Assert.Equal(a.Requests, b.Requests);
        var pairs = TestTraces.ShareGpt.Requests.Select(r => (r.PromptTokens, r.OutputTokens)).ToHashSet();
        Assert.All(a.Requests, r => Assert.Contains((r.PromptTokens, r.OutputTokens), pairs));
        Assert.NotEqual(a.Requests.Select(r => r.PromptTokens), SyntheticTrace.Draw(TestTraces.ShareGpt, 1000, 43).Requests.Select(r => r.PromptTokens));
    }
}
