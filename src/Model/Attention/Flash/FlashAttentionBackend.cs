using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// Attention through flash-attention 2's split-KV CUDA kernel (native/libpagedsim_flash.so), reading the paged or
/// contiguous cache in place: no gather, no copy. Head dim 128, fp16 or bf16, CUDA only. Decode (one query token)
/// runs in flash-attention's grouped-query layout and splits long contexts over the SMs like its own wrapper.
/// Kernels are queued on the legacy default CUDA stream, which is where TorchSharp (which has no stream API) runs
/// its own work, so no synchronization is needed. One instance per model; not thread-safe (it owns a workspace).
/// </summary>
public sealed class FlashAttentionBackend : IAttentionBackend, IDisposable
{
    private readonly FlashAttentionNative _native;
    // Caches whose shape, strides, dtype and device were checked, with that description (keyed by the tensor object,
    // which a cache keeps for its lifetime): a forward pass reads the same pools layer after layer.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<Tensor, CacheLayout> _checkedCaches = [];
    private Tensor? _workspace;
    private long _workspaceBytes;
    private Described? _last;

    /// <summary>Uses the library at $PAGEDSIM_FLASH_LIB, else libpagedsim_flash.so beside the application.</summary>
    /// <exception cref="FlashAttentionException">The library is missing or of another ABI version.</exception>
    public FlashAttentionBackend() : this(FlashAttentionNative.Shared)
    {
    }

    internal FlashAttentionBackend(FlashAttentionNative native) => _native = native;

    /// <summary>Null when the native library loads, else why not (for skipping tests, or a command-line message).</summary>
    public static string? UnavailableReason => FlashAttentionNative.UnavailableReason;

    /// <inheritdoc/>
    public string Name => "flash";

    /// <summary>Forces the number of KV splits (1–128); null lets flash-attention's heuristic choose from the SM count.</summary>
    public int? NumSplits { get; init; }

    /// <summary>Splits the last call used.</summary>
    public int LastNumSplits { get; private set; }

    /// <summary>Bytes of the split-KV workspace currently held (grows to the largest shape seen, never per call).</summary>
    public long WorkspaceBytes => _workspaceBytes;

    /// <inheritdoc/>
    /// <exception cref="FlashAttentionException">Arguments the kernel cannot take (see <see cref="FlashStatus"/>), or a CUDA failure.</exception>
    public void Forward(AttentionInputs inputs, Tensor output)
    {
        ObjectDisposedException.ThrowIf(_workspaceBytes < 0, this);
        bool paged = inputs.Kind == KvCacheKind.Paged;
        FlashArgs args;
        if (_last is { } last && last.SameCall(inputs, output) && Checked(inputs.KeyCache) == last.Layout && Checked(inputs.ValueCache) == last.Layout)
        {
            // The next layer of the same pass: only the caches' addresses change (their layout was checked).
            args = last.Args;
            args.K = TensorPointer.Of(inputs.KeyCache);
            args.V = TensorPointer.Of(inputs.ValueCache);
        }
        else
        {
            args = FlashArguments.Describe(inputs, output, NumSplits ?? 0);
            (int splits, long bytes) = _native.Plan(args, paged);
            args.Workspace = TensorPointer.Of(Workspace(bytes, inputs.Query));
            args.WorkspaceBytes = _workspaceBytes;
            var layout = new CacheLayout(args.CacheBatch, args.CacheLen, args.KBatchStride, args.KRowStride, args.KHeadStride, args.DType, args.Device);
            _checkedCaches.AddOrUpdate(inputs.KeyCache, layout);
            _checkedCaches.AddOrUpdate(inputs.ValueCache, layout with { BatchStride = args.VBatchStride, RowStride = args.VRowStride, HeadStride = args.VHeadStride });
            _last = new Described(inputs, output, args, layout, splits);
            if (Checked(inputs.ValueCache) != layout) _last = null; // keys and values laid out differently: describe every call
        }
        if (paged) _native.ForwardPaged(args);
        else _native.ForwardContiguous(args);
        LastNumSplits = _last?.Splits ?? LastNumSplits;
    }

    /// <summary>
    /// Checks <paramref name="inputs"/> and <paramref name="output"/> as <see cref="Forward"/> does and returns the
    /// native arguments of that call, workspace included, without running it: for a caller that runs the same call
    /// for every layer natively, replacing the cache pointers.
    /// </summary>
    internal FlashArgs Describe(AttentionInputs inputs, Tensor output)
    {
        ObjectDisposedException.ThrowIf(_workspaceBytes < 0, this);
        _last = null; // the workspace may move
        FlashArgs args = FlashArguments.Describe(inputs, output, NumSplits ?? 0);
        (int splits, long bytes) = _native.Plan(args, inputs.Kind == KvCacheKind.Paged);
        args.Workspace = TensorPointer.Of(Workspace(bytes, inputs.Query));
        args.WorkspaceBytes = _workspaceBytes;
        LastNumSplits = splits;
        return args;
    }

    /// <summary>Frees the workspace.</summary>
    public void Dispose()
    {
        _workspace?.Dispose();
        _workspace = null;
        _workspaceBytes = -1;
        _last = null;
    }

    private CacheLayout? Checked(Tensor cache) => _checkedCaches.TryGetValue(cache, out CacheLayout? layout) ? layout : null;

    /// <summary>What <see cref="FlashArguments.Describe"/> checked of a cache tensor.</summary>
    private sealed record CacheLayout(int CacheBatch, int CacheLen, long BatchStride, long RowStride, long HeadStride, int DType, int Device);

    /// <summary>
    /// The last fully described call. The same query, output, block table and lengths (the same tensor objects, which
    /// a pass creates once) with caches of the checked layout make the same arguments but for the cache addresses.
    /// </summary>
    private sealed record Described(AttentionInputs Inputs, Tensor Output, FlashArgs Args, CacheLayout Layout, int Splits)
    {
        public bool SameCall(AttentionInputs i, Tensor output) =>
            ReferenceEquals(output, Output) && ReferenceEquals(i.Query, Inputs.Query) && ReferenceEquals(i.BlockTable, Inputs.BlockTable)
            && ReferenceEquals(i.SequenceLengths, Inputs.SequenceLengths) && i.Kind == Inputs.Kind && i.MaxSequenceLength == Inputs.MaxSequenceLength
            && i.Causal == Inputs.Causal && i.SoftmaxScale == Inputs.SoftmaxScale;
    }

    // The softmax LSE and split accumulators: allocated when a larger shape first needs more, then reused.
    // Kernels on one stream run in order, so reusing it across calls and layers is safe.
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
}
