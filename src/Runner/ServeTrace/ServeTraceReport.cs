using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using PagedSim.Model.Generation;

namespace PagedSim.Runner;

/// <summary>What a <c>serve-trace</c> run was set up with.</summary>
internal sealed record ServeTraceSetup(
    ServeTraceSettings Settings, string TraceSource, IReadOnlyList<TraceRequest> Requests, Llama3 Model, int ElementBytes,
    int PoolBlocks, long BlockBytes)
{
    /// <summary>The model, as printed.</summary>
    public string ModelName => Settings.Synthetic ? $"{Settings.ModelName} (seed {Settings.Sampling.Seed})" : Settings.ModelName;
}

/// <summary>A continuous-batching run and the simulator's prediction for it.</summary>
internal sealed record ServeTraceReport(ServeTraceSetup Setup, ContinuousRun Run, ContinuousPrediction Prediction, ContinuousStaticBaseline? Static = null)
{
    /// <summary>Requests whose static-batch output equals the continuous run's.</summary>
    public int StaticMatches => Static is null ? 0 : Run.Results.Zip(Static.Results).Count(p => p.First.Tokens.SequenceEqual(p.Second.Tokens));
}

/// <summary>Parallel sampling: shared against independent, measured and predicted.</summary>
internal sealed record ServeTraceSamplingReport(
    ServeTraceSetup Setup, ParallelSamplingRun Forked, ParallelSamplingRun Independent,
    ParallelSamplingPrediction PredictedForked, ParallelSamplingPrediction PredictedIndependent)
{
    /// <summary>Samples of the shared run that differ from the independent run's, token for token.</summary>
    public int MismatchedSamples => Forked.Samples.Zip(Independent.Samples)
        .Sum(p => p.First.Zip(p.Second).Count(q => !q.First.Tokens.SequenceEqual(q.Second.Tokens)));
}
