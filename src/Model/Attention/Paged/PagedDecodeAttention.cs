using PagedSim.Model.Attention.Flash;
using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention.Paged;

/// <summary>
/// Decode attention through the library's own paged kernel (native/src/paged_attention.cu, <c>psk_paged_decode</c>):
/// any block size, head dim 128, bf16 or fp16, grouped-query (each KV head's pages read once for its query heads), long
/// contexts split over the GPU with a combine in a fixed order (bit-stable). It takes decode passes (one query token a
/// sequence) over a paged cache on CUDA; every other pass (prompts, contiguous caches) goes to
/// <see cref="OtherPasses"/>. Queued on the legacy default stream, as TorchSharp's own work. One instance per model; not
/// thread-safe (it owns a workspace).
/// </summary>
public sealed class PagedDecodeAttention : IAttentionBackend, IDisposable
{
    private readonly PagedDecodeNative _native;
    private Tensor? _workspace;
    private long _workspaceBytes;

    /// <summary>Uses the library <see cref="FlashAttentionBackend"/> loads; <paramref name="otherPasses"/> takes what the kernel does not.</summary>
    /// <exception cref="PagedAttentionException">The library is missing or lacks the kernel.</exception>
    public PagedDecodeAttention(IAttentionBackend otherPasses)
    {
        ArgumentNullException.ThrowIfNull(otherPasses);
        _native = PagedDecodeNative.Shared;
        OtherPasses = otherPasses;
    }

    /// <summary>Null when the kernel's library loads, else why not.</summary>
    public static string? UnavailableReason => PagedDecodeNative.UnavailableReason;

    /// <inheritdoc/>
    public string Name => "paged";

    /// <summary>The backend of the passes the kernel does not take (prompts; contiguous caches).</summary>
    public IAttentionBackend OtherPasses { get; }

    /// <summary>Tensor cores (the default) or CUDA cores.</summary>
    public PagedDecodeKernel Kernel { get; init; } = PagedDecodeKernel.TensorCores;

    /// <summary>Forces at most this many ranges of the sequence; null lets the library choose.</summary>
    public int? NumSplits { get; init; }

    /// <summary>Splits the last decode call used.</summary>
    public int LastNumSplits { get; private set; }

    /// <summary>Whether the kernel takes <paramref name="inputs"/>: one query token a sequence over a paged cache on CUDA.</summary>
    public static bool Takes(AttentionInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return inputs.Kind == KvCacheKind.Paged && inputs.Query.shape[1] == 1 && inputs.Query.device.type == DeviceType.CUDA;
    }

    /// <inheritdoc/>
    /// <exception cref="PagedAttentionException">Arguments the kernel cannot take, or a CUDA failure.</exception>
    public void Forward(AttentionInputs inputs, Tensor output)
    {
        if (!Takes(inputs))
        {
            OtherPasses.Forward(inputs, output);
            return;
        }
        _native.Decode(Describe(inputs, output, inputs.MaxSequenceLength));
    }

    /// <summary>
    /// Checks a decode pass and returns its native arguments, workspace included, without running it. A CUDA graph
    /// passes its capacity as <paramref name="maxSequenceLength"/> (the split is planned for it, so every later length
    /// up to it replays correctly).
    /// </summary>
    internal PagedDecodeArgs Describe(AttentionInputs a, Tensor output, int maxSequenceLength)
    {
        ObjectDisposedException.ThrowIf(_workspaceBytes < 0, this);
        Tensor q = a.Query, k = a.KeyCache, v = a.ValueCache;
        ScalarType dtype = q.dtype;
        if (dtype != ScalarType.BFloat16 && dtype != ScalarType.Float16)
            throw new PagedAttentionException($"the query is {dtype}; the paged kernel takes bf16 or fp16");
        if (k.dtype != dtype || v.dtype != dtype || output.dtype != dtype)
            throw new PagedAttentionException($"dtypes differ: query {dtype}, keys {k.dtype}, values {v.dtype}, output {output.dtype}");
        if (q.dim() != 4 || k.dim() != 4 || !q.is_contiguous() || !output.is_contiguous() || !k.is_contiguous() || !v.is_contiguous() ||
            !output.shape.SequenceEqual(q.shape) || !v.shape.SequenceEqual(k.shape) || q.shape[3] != k.shape[3])
            throw new PagedAttentionException($"query [{Dims(q.shape)}], output [{Dims(output.shape)}] and caches [{Dims(k.shape)}] must be contiguous, 4-dimensional and agree");
        long batch = q.shape[0];
        Tensor table = a.BlockTable, lengths = a.SequenceLengths;
        if (table.dtype != ScalarType.Int32 || table.dim() != 2 || table.shape[0] != batch || !table.is_contiguous() ||
            lengths.dtype != ScalarType.Int32 || lengths.numel() != batch || !lengths.is_contiguous())
            throw new PagedAttentionException($"the block table must be a contiguous int32 [batch={batch}, n] and the lengths a contiguous int32 [batch]");
        var args = new PagedDecodeArgs
        {
            DType = dtype == ScalarType.BFloat16 ? 1 : 0,
            Batch = checked((int)batch), Heads = checked((int)q.shape[2]), KvHeads = checked((int)k.shape[2]), HeadDim = checked((int)q.shape[3]),
            SoftmaxScale = (float)a.SoftmaxScale,
            Q = TensorPointer.Of(q), Out = TensorPointer.Of(output), KCache = TensorPointer.Of(k), VCache = TensorPointer.Of(v),
            BlockSize = checked((int)k.shape[1]), BlockTable = TensorPointer.Of(table), BlockTableStride = table.shape[1],
            SeqLens = TensorPointer.Of(lengths), MaxSeqLen = maxSequenceLength, NumSplits = NumSplits ?? 0, Kernel = (int)Kernel,
        };
        (int splits, long bytes) = _native.Plan(args);
        if (bytes > 0)
        {
            args.Workspace = TensorPointer.Of(Workspace(bytes, q));
            args.WorkspaceBytes = _workspaceBytes;
        }
        LastNumSplits = splits;
        return args;
    }

    /// <summary>Frees the workspace (and the other passes' backend when it is disposable).</summary>
    public void Dispose()
    {
        _workspace?.Dispose();
        _workspace = null;
        _workspaceBytes = -1;
        (OtherPasses as IDisposable)?.Dispose();
    }

    // The splits' partial results: allocated when a larger shape first needs more, then reused (one stream: in order).
    private Tensor Workspace(long bytes, Tensor query)
    {
        if (_workspace is null || _workspaceBytes < bytes || _workspace.device_index != query.device_index)
        {
            _workspace?.Dispose();
            long floats = Math.Max(4, (bytes + 3) / 4);
            _workspace = empty([floats], ScalarType.Float32, query.device).DetachFromDisposeScope();
            _workspaceBytes = floats * 4;
        }
        return _workspace;
    }

    private static string Dims(long[] shape) => string.Join(", ", shape);
}
