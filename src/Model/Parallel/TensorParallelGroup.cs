using PagedSim.Allocator;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// N tensor-parallel ranks in this process, one thread each (rank 0 on the caller's thread): the plan, the collective
/// between them, and each rank's <see cref="Llama3"/> over its shard. Rank 0's model is the group's face: callers
/// (generators, schedulers) use it like any model, and each of its forward passes runs on every rank at once with
/// the same step; rank 0's result is returned. The scheduler stays single: the ranks share its host-side decisions
/// (block tables, positions) as they share the process, so nothing needs broadcasting.
/// </summary>
public sealed class TensorParallelGroup : IDisposable
{
    private readonly RankThread[] _threads;
    private readonly Func<Device, IAttentionBackend>? _attentionFor;
    private readonly Dictionary<int, IAttentionBackend> _rankAttention = new();
    private Llama3[] _models = [];
    private bool _failed;

    /// <summary>
    /// A group over <paramref name="devices"/> (rank r on devices[r]) talking through <paramref name="collective"/>.
    /// <paramref name="attentionFor"/> makes each other rank's attention backend from the one its device needs;
    /// when null, ranks share the backend the caller passes (right for the stateless <see cref="ReferenceAttention"/>).
    /// </summary>
    public TensorParallelGroup(ShardingPlan plan, IReadOnlyList<Device> devices, ScalarType dtype, ICollective collective,
        Func<Device, IAttentionBackend>? attentionFor = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (devices.Count != plan.Ranks) throw new ArgumentException($"{devices.Count} devices for {plan.Ranks} ranks.", nameof(devices));
        if (collective.Size != plan.Ranks) throw new ArgumentException($"A collective of {collective.Size} for {plan.Ranks} ranks.", nameof(collective));
        Plan = plan;
        Devices = devices;
        DType = dtype;
        Collective = collective;
        _attentionFor = attentionFor;
        _threads = [.. Enumerable.Range(1, plan.Ranks - 1).Select(r => new RankThread($"tp-rank-{r}"))];
    }

    /// <summary>Which rows and columns each rank holds.</summary>
    public ShardingPlan Plan { get; }

    /// <summary>Rank r's device.</summary>
    public IReadOnlyList<Device> Devices { get; }

    /// <summary>Weights' and caches' dtype.</summary>
    public ScalarType DType { get; }

    /// <summary>The ranks' communication.</summary>
    public ICollective Collective { get; }

    /// <summary>Ranks.</summary>
    public int Size => Plan.Ranks;

    /// <summary>Each rank's model (rank 0's is the face; see the class remarks).</summary>
    public IReadOnlyList<Llama3> Models => _models;

    /// <summary>A paged cache whose pools each rank holds its KV heads of, following one block manager.</summary>
    public ShardedKvCache PagedCache(KvCacheOptions options) => ShardedKvCache.Paged(Plan.Local, options, Devices, DType);

    /// <summary>A contiguous (naive) cache, each rank holding its KV heads of every row.</summary>
    public ShardedKvCache NaiveCache(int rows, int maxSequenceLength) => ShardedKvCache.Naive(Plan.Local, rows, maxSequenceLength, Devices, DType);

    /// <summary>Takes the ranks' models (made with this group's <see cref="ParallelRank"/>s, in rank order).</summary>
    internal void Attach(Llama3[] models)
    {
        if (models.Length != Size) throw new ArgumentException($"{models.Length} models for {Size} ranks.", nameof(models));
        for (int r = 0; r < Size; r++)
            if (models[r].Parallel is not { } p || !ReferenceEquals(p.Group, this) || p.Rank != r)
                throw new ArgumentException($"Model {r} is not this group's rank {r}.", nameof(models));
        _models = models;
    }

    /// <summary>
    /// One forward pass on every rank: rank r gets the tokens and step on its device, its own cache of
    /// <paramref name="cache"/> (a <see cref="ShardedKvCache"/>), and its attention backend. Returns rank 0's output
    /// (float32 logits, or the greedy ids when <paramref name="greedy"/>). A rank that throws aborts the collective
    /// so the others return; its exception is rethrown and the group refuses further passes.
    /// </summary>
    internal Tensor Forward(Tensor tokens, IKvCache cache, KvStep step, IAttentionBackend attention, bool greedy)
    {
        if (_failed) throw new InvalidOperationException("A rank of this tensor-parallel group failed earlier; the group cannot run further passes.");
        if (cache is not ShardedKvCache sharded || sharded.Ranks != Size)
            throw new ArgumentException($"A tensor-parallel model of {Size} ranks needs the ShardedKvCache its model makes (NewPagedCache / NewNaiveCache).", nameof(cache));
        var others = new Task[Size - 1];
        for (int r = 1; r < Size; r++)
        {
            int rank = r;
            IAttentionBackend backend = AttentionFor(rank, attention);
            others[r - 1] = _threads[r - 1].Run(() => Guard(() =>
            {
                using var scope = NewDisposeScope();
                using var noAutograd = inference_mode();
                Device device = Devices[rank];
                _models[rank].ForwardOutput(tokens.to(device), sharded.Rank(rank), On(step, device), backend, greedy);
            }));
        }
        Tensor? result = null;
        Exception? first = null;
        try
        {
            result = Guard(() => _models[0].ForwardOutput(tokens, sharded.Rank(0), step, attention, greedy));
        }
        catch (Exception e)
        {
            first = e;
        }
        try
        {
            Task.WaitAll(others);
        }
        catch (AggregateException e)
        {
            first = Prefer(first, e.InnerExceptions);
        }
        if (first is null) return result!;
        _failed = true;
        result?.Dispose();
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        throw first; // unreachable
    }

    /// <summary>Disposes the other ranks' models, the threads and the collective (rank 0's model disposes the group).</summary>
    public void Dispose()
    {
        foreach (RankThread t in _threads) t.Dispose();
        for (int r = 1; r < _models.Length; r++) _models[r].Dispose();
        foreach (IAttentionBackend a in _rankAttention.Values) (a as IDisposable)?.Dispose();
        Collective.Dispose();
    }

    private T Guard<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch
        {
            Collective.Abort(); // release the ranks waiting for this one
            throw;
        }
    }

    private void Guard(Action work) => Guard(() => { work(); return 0; });

    private IAttentionBackend AttentionFor(int rank, IAttentionBackend callers)
    {
        if (_attentionFor is null) return callers;
        lock (_rankAttention)
        {
            if (!_rankAttention.TryGetValue(rank, out IAttentionBackend? a)) _rankAttention[rank] = a = _attentionFor(Devices[rank]);
            return a;
        }
    }

    /// <summary>The step's tensors on <paramref name="device"/> (the same tensors when already there).</summary>
    private static KvStep On(KvStep s, Device device) =>
        s.Positions.device_type == device.type && s.Positions.device_index == device.index ? s
        : s with { Positions = s.Positions.to(device), Slots = s.Slots.to(device), BlockTable = s.BlockTable.to(device), SequenceLengths = s.SequenceLengths.to(device) };

    /// <summary>The error to report: a rank's own failure rather than the aborts it caused in the others.</summary>
    private static Exception Prefer(Exception? first, IEnumerable<Exception> more)
    {
        foreach (Exception e in more)
            if (first is null || (first is CollectiveAbortedException && e is not CollectiveAbortedException)) first = e;
        return first!;
    }
}
