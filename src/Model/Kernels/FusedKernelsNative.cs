using System.Runtime.InteropServices;
using PagedSim.Model.Attention.Flash;

namespace PagedSim.Model.Kernels;

/// <summary>
/// The fused kernels' C entry points (native/include/pagedsim_kernels.h) in libpagedsim_flash.so, found like the
/// flash-attn backend's (<see cref="FlashAttentionNative.PathVariable"/>, else beside the application). Loaded once.
/// </summary>
internal sealed unsafe class FusedKernelsNative
{
    /// <summary>The <c>PSK_ABI_VERSION</c> this binding was written for.</summary>
    public const int AbiVersion = 8;

    private static readonly Lazy<(FusedKernelsNative? Native, string? Error)> s_shared = new(LoadDefault);

    private readonly delegate* unmanaged<int, nint, nint, nint, nint, long, int, float, nint, int> _addRmsNorm;
    private readonly delegate* unmanaged<int, nint, long, nint, nint, nint, long, int, int, int, nint, nint, nint, nint, int> _ropeKvWrite;
    private readonly delegate* unmanaged<int, nint, nint, long, int, nint, int> _siluMul;
    private readonly delegate* unmanaged<int, nint, nint, nint, int, int, int, nint, int> _linear;
    private readonly delegate* unmanaged<int, nint, long, int, nint, nint, int> _argmax;
    private readonly delegate* unmanaged<NativeForwardArgs*, int> _forwardLayers;
    private readonly delegate* unmanaged<NativeForwardArgs*, nint*, int> _graphCapture;
    private readonly delegate* unmanaged<nint, nint, nint, nint, nint, nint, int, nint, int> _graphLaunch;
    private readonly delegate* unmanaged<nint, void> _graphDestroy;
    private readonly delegate* unmanaged<nint*, int> _eventCreate;
    private readonly delegate* unmanaged<nint, nint, int> _eventRecord;
    private readonly delegate* unmanaged<nint, int> _eventSynchronize;
    private readonly delegate* unmanaged<nint, void> _eventDestroy;
    private readonly delegate* unmanaged<nint> _lastError;

    private FusedKernelsNative(nint handle)
    {
        _addRmsNorm = (delegate* unmanaged<int, nint, nint, nint, nint, long, int, float, nint, int>)Export(handle, "psk_add_rmsnorm");
        _ropeKvWrite = (delegate* unmanaged<int, nint, long, nint, nint, nint, long, int, int, int, nint, nint, nint, nint, int>)Export(handle, "psk_rope_kv_write");
        _siluMul = (delegate* unmanaged<int, nint, nint, long, int, nint, int>)Export(handle, "psk_silu_mul");
        _linear = (delegate* unmanaged<int, nint, nint, nint, int, int, int, nint, int>)Export(handle, "psk_linear");
        _argmax = (delegate* unmanaged<int, nint, long, int, nint, nint, int>)Export(handle, "psk_argmax");
        _forwardLayers = (delegate* unmanaged<NativeForwardArgs*, int>)Export(handle, "psk_forward_layers");
        _graphCapture = (delegate* unmanaged<NativeForwardArgs*, nint*, int>)Export(handle, "psk_graph_capture");
        _graphLaunch = (delegate* unmanaged<nint, nint, nint, nint, nint, nint, int, nint, int>)Export(handle, "psk_graph_launch");
        _graphDestroy = (delegate* unmanaged<nint, void>)Export(handle, "psk_graph_destroy");
        _eventCreate = (delegate* unmanaged<nint*, int>)Export(handle, "psk_event_create");
        _eventRecord = (delegate* unmanaged<nint, nint, int>)Export(handle, "psk_event_record");
        _eventSynchronize = (delegate* unmanaged<nint, int>)Export(handle, "psk_event_synchronize");
        _eventDestroy = (delegate* unmanaged<nint, void>)Export(handle, "psk_event_destroy");
        _lastError = (delegate* unmanaged<nint>)Export(handle, "psk_last_error");
        int size = ((delegate* unmanaged<int>)Export(handle, "psk_forward_args_size"))();
        if (size != Marshal.SizeOf<NativeForwardArgs>())
            throw new InvalidOperationException($"the native library's psk_forward_args has {size} bytes; this binding's has {Marshal.SizeOf<NativeForwardArgs>()}: rebuild native/");
        int version = ((delegate* unmanaged<int>)Export(handle, "psk_abi_version"))();
        if (version != AbiVersion)
            throw new InvalidOperationException($"the native library's fused kernels have ABI version {version}; this binding needs {AbiVersion}: rebuild native/");
    }

    /// <summary>The process-wide binding; throws <see cref="InvalidOperationException"/> when unusable.</summary>
    public static FusedKernelsNative Shared => s_shared.Value.Native ?? throw new InvalidOperationException(s_shared.Value.Error);

    /// <summary>Null when <see cref="Shared"/> loads, else the one-line reason it does not.</summary>
    public static string? UnavailableReason => s_shared.Value.Error;

    public void AddRmsNorm(int dtype, nint residual, nint delta, nint weight, nint output, long rows, int dim, float eps) =>
        Check(_addRmsNorm(dtype, residual, delta, weight, output, rows, dim, eps, 0));

    public void RopeKvWrite(int dtype, nint qkv, long qkvRowStride, nint positions, nint slots, nint rope, long tokens,
        int heads, int kvHeads, int headDim, nint qOut, nint kCache, nint vCache) =>
        Check(_ropeKvWrite(dtype, qkv, qkvRowStride, positions, slots, rope, tokens, heads, kvHeads, headDim, qOut, kCache, vCache, 0));

    public void SiluMul(int dtype, nint gateUp, nint output, long rows, int hidden) =>
        Check(_siluMul(dtype, gateUp, output, rows, hidden, 0));

    /// <summary>output = input · weightᵀ as the layer loop computes it (GEMV, the library's tensor-core kernels, or cuBLAS).</summary>
    public void Linear(int dtype, nint input, nint weight, nint output, int rows, int outFeatures, int inFeatures) =>
        Check(_linear(dtype, input, weight, output, rows, outFeatures, inFeatures, 0));

    /// <summary>ids [rows] (int64) = each row's first largest logit of logits [rows, vocab].</summary>
    public void Argmax(int dtype, nint logits, long rows, int vocab, nint ids) => Check(_argmax(dtype, logits, rows, vocab, ids, 0));

    public void ForwardLayers(in NativeForwardArgs args)
    {
        fixed (NativeForwardArgs* a = &args) Check(_forwardLayers(a));
    }

    /// <summary>Records <paramref name="args"/>'s pass as a CUDA graph (nothing runs); returns its handle.</summary>
    public nint CaptureGraph(in NativeForwardArgs args)
    {
        nint graph = 0;
        fixed (NativeForwardArgs* a = &args) Check(_graphCapture(a, &graph));
        return graph;
    }

    /// <summary>Copies a step's inputs into the graph's buffers and launches it (legacy default stream).</summary>
    public void LaunchGraph(nint graph, nint residual, nint positions, nint slots, nint sequenceLengths, nint blockTable, int blockTableColumns) =>
        Check(_graphLaunch(graph, residual, positions, slots, sequenceLengths, blockTable, blockTableColumns, 0));

    public void DestroyGraph(nint graph) => _graphDestroy(graph);

    /// <summary>A CUDA event without timing.</summary>
    public nint CreateEvent()
    {
        nint e = 0;
        Check(_eventCreate(&e));
        return e;
    }

    /// <summary>Records <paramref name="cudaEvent"/> on the legacy default stream (TorchSharp's).</summary>
    public void RecordEvent(nint cudaEvent) => Check(_eventRecord(cudaEvent, 0));

    /// <summary>Waits on the host until the work queued before the event's record has run.</summary>
    public void SynchronizeEvent(nint cudaEvent) => Check(_eventSynchronize(cudaEvent));

    public void DestroyEvent(nint cudaEvent) => _eventDestroy(cudaEvent);

    /// <summary>Null when <see cref="Shared"/> loads (then <see cref="Shared"/> is it), else the reason.</summary>
    public static FusedKernelsNative? TryShared => s_shared.Value.Native;

    private void Check(int status)
    {
        if (status == 0) return;
        string message = Marshal.PtrToStringUTF8(_lastError()) ?? "";
        throw new InvalidOperationException($"fused kernel failed ({status}): {(message.Length > 0 ? message : "no message")}");
    }

    private static (FusedKernelsNative?, string?) LoadDefault()
    {
        string path = FlashAttentionNative.DefaultPath;
        if (!File.Exists(path))
            return (null, $"native library {path} does not exist: build native/ (see docs/flash-attn.md), then set {FlashAttentionNative.PathVariable} to libpagedsim_flash.so or put it beside the application");
        try
        {
            return (new FusedKernelsNative(NativeLibrary.Load(path)), null);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or InvalidOperationException)
        {
            return (null, $"native library {path}: {e.Message.Split('\n')[0]}");
        }
    }

    private static nint Export(nint handle, string name) =>
        NativeLibrary.TryGetExport(handle, name, out nint address) ? address
            : throw new InvalidOperationException($"the library lacks {name} (built before the fused kernels): rebuild native/");
}
