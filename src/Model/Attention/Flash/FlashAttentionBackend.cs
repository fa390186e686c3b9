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
    private Tensor? _workspace;
    private long _workspaceBytes;

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
    public void Forward(AttentionInputs inputs, Tensor output) => Launch(Describe(inputs, output), inputs.Kind);

    /// <summary>
    /// One call over requests of different query lengths (a ragged prefill pass): <paramref name="inputs"/>' query and
    /// <paramref name="output"/> are [1, Σ lengths, heads, headDim], its block table and lengths have a row a request,
    /// and <paramref name="ragged"/> says where each request's queries lie. Causal masks align to each request's end.
    /// </summary>
    /// <exception cref="FlashAttentionException">Arguments the kernel cannot take, or a CUDA failure.</exception>
    public void ForwardRagged(AttentionInputs inputs, RaggedQueries ragged, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(ragged);
        Launch(Describe(inputs, output, ragged), inputs.Kind);
    }

    private void Launch(FlashArgs args, KvCacheKind kind)
    {
        if (kind == KvCacheKind.Paged) _native.ForwardPaged(args);
        else _native.ForwardContiguous(args);
    }

    /// <summary>
    /// Checks <paramref name="inputs"/> and <paramref name="output"/> and returns the native arguments of that call,
    /// workspace included, without running it: <see cref="Forward"/> runs it; the fused kernels' native layer loop
    /// runs it for every layer, replacing the cache pointers.
    /// </summary>
    internal FlashArgs Describe(AttentionInputs inputs, Tensor output, RaggedQueries? ragged = null)
    {
        ObjectDisposedException.ThrowIf(_workspaceBytes < 0, this);
        FlashArgs args = FlashArguments.Describe(inputs, output, NumSplits ?? 0, ragged);
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
