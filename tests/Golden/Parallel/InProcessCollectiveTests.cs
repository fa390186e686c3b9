using PagedSim.Model.Parallel;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Parallel;

/// <summary>The in-process collective: sums in rank order, gathers in rank order, and a failing rank releases the others.</summary>
public class InProcessCollectiveTests
{
    [Fact]
    public async Task AllReduceSumsInRankOrderOnEveryRank()
    {
        const int n = 3;
        using var c = new InProcessCollective(n);
        // float32 addition is not associative: 1e8 + 1 - 1e8 is 0 in rank order (1e8 + 1 rounds to 1e8), 1 in another.
        float[] values = [1e8f, 1f, -1e8f];
        var results = new float[n];
        await RunRanks(n, r =>
        {
            using Tensor t = tensor(new[] { values[r] });
            c.AllReduce(r, t);
            results[r] = t.item<float>();
        });
        Assert.Equal([0f, 0f, 0f], results);
    }

    [Fact]
    public async Task AllGatherStacksInRankOrder()
    {
        using var c = new InProcessCollective(2);
        var gathered = new float[2][];
        await RunRanks(2, r =>
        {
            using Tensor t = tensor(new[] { r + 1f, r + 1f, r + 1f }); // no Scalar temporaries (see PagedSim.Model.Scalars)
            using Tensor g = c.AllGather(r, t);
            gathered[r] = g.data<float>().ToArray();
        });
        Assert.All(gathered, g => Assert.Equal([1f, 1, 1, 2, 2, 2], g));
    }

    [Fact]
    public void AFailingRankReleasesTheOthers()
    {
        using var c = new InProcessCollective(2);
        Task waiting = Task.Factory.StartNew(() =>
        {
            using Tensor t = ones(2);
            c.AllReduce(1, t);
        }, TaskCreationOptions.LongRunning);
        c.Abort(); // rank 0 failed before its call
        var e = Assert.Throws<AggregateException>(() => waiting.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        Assert.IsType<CollectiveAbortedException>(e.InnerException);
    }

    private static Task RunRanks(int n, Action<int> body) =>
        Task.WhenAll([.. Enumerable.Range(0, n).Select(r => Task.Factory.StartNew(() => body(r), TestContext.Current.CancellationToken,
            TaskCreationOptions.LongRunning, TaskScheduler.Default))]);
}
