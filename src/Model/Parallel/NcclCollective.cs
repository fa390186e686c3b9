using PagedSim.Model.Attention.Flash;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// Collectives on GPUs through NCCL (libnccl.so.2, found by <see cref="NcclLibrary"/>). One communicator per rank of
/// this process: all ranks at once with <c>ncclCommInitAll</c> over a device list (<see cref="CreateAll"/>, the
/// runner's design: one process, one thread per GPU), or one rank of a group spread over processes
/// (<see cref="ForRank"/>). Every call is queued on the legacy default stream of the rank's device, the stream
/// libtorch runs TorchSharp's operations on (TorchSharp exposes no other), so it is ordered after the operation that
/// produced its buffer and before the one that reads it, without a host synchronisation.
/// </summary>
public sealed class NcclCollective : ICollective
{
    /// <summary>The legacy default stream (TorchSharp's): NCCL resolves it on the communicator's device.</summary>
    private const nint DefaultStream = 0;

    private readonly NcclNative _nccl;
    private readonly Dictionary<int, (nint Comm, int Device)> _ranks;
    private bool _aborted, _disposed;

    private NcclCollective(NcclNative nccl, int size, Dictionary<int, (nint, int)> ranks)
    {
        _nccl = nccl;
        Size = size;
        _ranks = ranks;
    }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public string Name => $"nccl {_nccl.Version}";

    /// <summary>The NCCL version libnccl.so.2 reports; <see cref="NcclException"/> when it cannot be loaded.</summary>
    public static string LibraryVersion => NcclNative.Shared.Version;

    /// <summary>
    /// One communicator per device of <paramref name="devices"/> (rank r on devices[r]), all in this process, made
    /// together by <c>ncclCommInitAll</c> (which takes the device list itself: no thread need set a current device).
    /// </summary>
    /// <exception cref="NcclException">NCCL missing, or its initialisation failed.</exception>
    public static NcclCollective CreateAll(IReadOnlyList<Device> devices)
    {
        if (devices.Count == 0) throw new ArgumentException("No devices.", nameof(devices));
        int[] indices = [.. devices.Select(d => d.type == DeviceType.CUDA ? Math.Max(0, (int)d.index) : throw new ArgumentException($"NCCL needs CUDA devices, not {d}.", nameof(devices)))];
        if (indices.Distinct().Count() != indices.Length) throw new ArgumentException("NCCL needs one distinct GPU per rank.", nameof(devices));
        NcclNative nccl = NcclNative.Shared;
        nint[] comms = nccl.CommInitAll(indices);
        return new NcclCollective(nccl, indices.Length, Enumerable.Range(0, indices.Length).ToDictionary(r => r, r => (comms[r], indices[r])));
    }

    /// <summary>A new communicator id, made by one rank and passed to every rank of a multi-process group.</summary>
    public static NcclUniqueId NewUniqueId() => NcclNative.Shared.GetUniqueId();

    /// <summary>
    /// Rank <paramref name="rank"/> of a group of <paramref name="size"/> spread over processes, on CUDA device 0 of
    /// this process (<c>ncclCommInitRank</c> binds to the current device, which TorchSharp cannot set: start each
    /// rank's process with <c>CUDA_VISIBLE_DEVICES</c> naming its GPU). Blocks until every rank has joined.
    /// </summary>
    public static NcclCollective ForRank(NcclUniqueId id, int size, int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, size);
        NcclNative nccl = NcclNative.Shared;
        nint comm = nccl.CommInitRank(size, id, rank);
        return new NcclCollective(nccl, size, new Dictionary<int, (nint, int)> { [rank] = (comm, 0) });
    }

    /// <inheritdoc/>
    public void AllReduce(int rank, Tensor buffer)
    {
        nint comm = Check(rank, buffer, nameof(buffer));
        _nccl.AllReduce(TensorPointer.Of(buffer), TensorPointer.Of(buffer), buffer.numel(), DataType(buffer.dtype), comm, DefaultStream);
    }

    /// <inheritdoc/>
    public Tensor AllGather(int rank, Tensor local)
    {
        nint comm = Check(rank, local, nameof(local));
        Tensor gathered = empty([Size, .. local.shape], local.dtype, local.device);
        try
        {
            _nccl.AllGather(TensorPointer.Of(local), TensorPointer.Of(gathered), local.numel(), DataType(local.dtype), comm, DefaultStream);
        }
        catch
        {
            gathered.Dispose();
            throw;
        }
        return gathered;
    }

    /// <inheritdoc/>
    public void Abort()
    {
        if (_aborted) return;
        _aborted = true;
        foreach ((nint comm, _) in _ranks.Values) _nccl.CommAbort(comm);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_aborted)
            foreach ((nint comm, _) in _ranks.Values) _nccl.CommDestroy(comm);
    }

    private nint Check(int rank, Tensor t, string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_aborted) throw new CollectiveAbortedException("another rank of the tensor-parallel group failed (NCCL communicators aborted)");
        if (!_ranks.TryGetValue(rank, out (nint Comm, int Device) r)) throw new ArgumentException($"Rank {rank} has no communicator in this process.", nameof(rank));
        if (t.device_type != DeviceType.CUDA || Math.Max(0, (int)t.device_index) != r.Device)
            throw new ArgumentException($"Rank {rank}'s buffer is on {t.device}, not cuda:{r.Device}.", name);
        if (!t.is_contiguous()) throw new ArgumentException("NCCL buffers must be contiguous.", name);
        return r.Comm;
    }

    /// <summary>ncclDataType_t of <paramref name="type"/>.</summary>
    private static int DataType(ScalarType type) => type switch
    {
        ScalarType.Int32 => 2,
        ScalarType.Int64 => 4,
        ScalarType.Float16 => 6,
        ScalarType.Float32 => 7,
        ScalarType.Float64 => 8,
        ScalarType.BFloat16 => 9,
        _ => throw new ArgumentException($"NCCL has no {type} type here.", nameof(type)),
    };
}
