using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// Collectives between ranks that are threads of this process, for CPU runs and tests: each rank posts its tensor and
/// waits at a barrier; then every rank reads all posted tensors. The all-reduce sums in rank order (0 + 1 + … + N−1),
/// in float32 for bf16/fp16 buffers (rounded once at the end), so every rank gets the same bits and repeated runs agree.
/// </summary>
public sealed class InProcessCollective : ICollective
{
    private readonly Barrier _barrier;
    private readonly Tensor?[] _posted;
    private readonly CancellationTokenSource _abort = new();

    /// <summary>A group of <paramref name="size"/> ranks.</summary>
    public InProcessCollective(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        Size = size;
        _barrier = new Barrier(size);
        _posted = new Tensor?[size];
    }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public string Name => "in-process";

    /// <inheritdoc/>
    public void AllReduce(int rank, Tensor buffer)
    {
        if (Size == 1) return;
        using var scope = NewDisposeScope();
        Post(rank, buffer);
        ScalarType acc = buffer.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? ScalarType.Float32 : buffer.dtype;
        Tensor sum = _posted[0]!.to(acc, buffer.device, copy: true);
        for (int r = 1; r < Size; r++) sum.add_(_posted[r]!.to(acc, buffer.device), Scalars.One);
        Wait(); // every rank has read every buffer: now each may overwrite its own
        buffer.copy_(sum);
        Wait(); // nobody posts the next call's buffer before all have finished this one
    }

    /// <inheritdoc/>
    public Tensor AllGather(int rank, Tensor local)
    {
        if (Size == 1) return local.unsqueeze(0).clone();
        using var scope = NewDisposeScope();
        Post(rank, local);
        Tensor gathered = stack(_posted.Select(t => t!.to(local.device)).ToArray(), 0);
        Wait();
        return gathered.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void Abort() => _abort.Cancel();

    /// <inheritdoc/>
    public void Dispose()
    {
        _barrier.Dispose();
        _abort.Dispose();
    }

    private void Post(int rank, Tensor t)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, Size);
        _posted[rank] = t;
        Wait();
    }

    private void Wait()
    {
        try
        {
            _barrier.SignalAndWait(_abort.Token);
        }
        catch (OperationCanceledException e)
        {
            throw new CollectiveAbortedException("another rank of the tensor-parallel group failed", e);
        }
    }
}
