using PagedSim.Allocator;
using PagedSim.Golden.Tests.Model;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using PagedSim.Model.Parallel;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Parallel;

/// <summary>A rank that fails mid-pass: the others are released from the all-reduce, its own error is reported, the group stops.</summary>
public class TensorParallelFailureTests
{
    [Fact]
    public void ARankFailingInsideThePassIsReportedNotHung()
    {
        // Rank 1's attention throws; rank 0 then waits in the all-reduce after o until the abort releases it.
        using Llama3 model = TensorParallel.Load(TinyLlama.Dir("meta"), [CPU, CPU], ScalarType.Float32, new InProcessCollective(2), 64,
            attentionFor: _ => new FailingAttention());
        using IKvCache cache = model.NewPagedCache(new KvCacheOptions(8, 4, 64));
        int s = cache.Add(3);

        Tensor Pass()
        {
            using var scope = NewDisposeScope();
            KvStep step = cache.Prepare([s], 3, CPU);
            return model.ForwardGreedy(tensor(new long[] { 1, 2, 3 }, [1, 3]), cache, step, new ReferenceAttention()).MoveToOuterDisposeScope();
        }

        var task = Task.Run(Pass);
        var e = Assert.Throws<AggregateException>(() => task.Wait(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken)); // faulted, not hung (a hang returns false)
        Assert.Equal("rank 1's attention failed", e.InnerException!.Message);
        var again = Assert.Throws<InvalidOperationException>(() => Pass());
        Assert.Contains("failed earlier", again.Message);
    }

    private sealed class FailingAttention : IAttentionBackend
    {
        public string Name => "failing";

        public void Forward(AttentionInputs inputs, Tensor output) => throw new InvalidOperationException("rank 1's attention failed");
    }
}
