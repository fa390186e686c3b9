using PagedSim.Model.Attention;
using System.Runtime.InteropServices;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.Attention.Paged;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Kernels;

/// <summary>
/// The layer operations as one native launch each (native/src/, in the same library as the
/// flash-attn backend), on the legacy default CUDA stream where TorchSharp queues its own work. Tensors must be
/// contiguous CUDA tensors of one dtype, bf16 or fp16; positions and slots int64 on the same device. Each operation
/// checks its tensors' device, dtype, contiguity and sizes (a wrong size would be read or written out of bounds);
/// the native layer loop, the hot path, checks once per pass.
/// </summary>
public sealed class FusedCudaKernels : ILayerKernels, IDisposable
{
    private readonly FusedKernelsNative _native;
    private readonly DecodeGraphs _graphs;
    private LayerBuffers? _buffers;
    private unsafe PagedDecodeArgs* _decodeArgs; // the paged decode kernel's arguments as the native layer loop reads them
    private (Llama3Weights Weights, IKvCache Cache, NativeLayer[] Layers)? _layers;

    /// <summary>Uses the library at $PAGEDSIM_FLASH_LIB, else libpagedsim_flash.so beside the application.</summary>
    /// <exception cref="InvalidOperationException">The library is missing or lacks the fused kernels.</exception>
    public FusedCudaKernels()
    {
        _native = FusedKernelsNative.Shared;
        _graphs = new DecodeGraphs(_native);
    }

    /// <summary>Null when the native library provides the kernels, else why not (one line).</summary>
    public static string? UnavailableReason => FusedKernelsNative.UnavailableReason;

    /// <inheritdoc/>
    public string Name => "fused";

    /// <summary>
    /// Rows up to which <see cref="Linear"/> runs the native library's matmul (a GEMV for one row, its tensor-core
    /// kernels for 2–64 rows on an H100/H200, cuBLAS elsewhere), as the layer loop does; above, TorchSharp's. Measured
    /// on an H100 for the output head of Llama 3 8B (128256 × 4096): 1 row 2.8–3.1 TB/s against cuBLAS's 2.1–2.9;
    /// 8 rows 346 µs against 373, 49 rows 355 against 387 (native/test/bench_skinny_gemm.cu).
    /// </summary>
    public const int NativeLinearMaxRows = 64;

    /// <inheritdoc/>
    public Tensor Linear(Tensor input, Tensor weight)
    {
        long rows = input.shape[0];
        long outFeatures = weight.shape[0], inFeatures = weight.shape[1];
        // The native matmuls load 8 elements (16 bytes) at a time: widths that are no multiple of 8 (stories260K's
        // SwiGLU of 172) go to the library's matmul, as do more rows than the native kernels take.
        if (rows > NativeLinearMaxRows || inFeatures % 8 != 0) return TorchSharp.torch.nn.functional.linear(input, weight);
        int dtype = DType(input);
        Expect(input, "input", rows * inFeatures, dtype);
        Expect(weight, "weight", outFeatures * inFeatures, dtype);
        Tensor output = empty([rows, outFeatures], input.dtype, input.device);
        _native.Linear(dtype, TensorPointer.Of(input), TensorPointer.Of(weight), TensorPointer.Of(output), (int)rows, (int)outFeatures, (int)inFeatures);
        return output;
    }

    /// <inheritdoc/>
    public void AddRmsNorm(Tensor residual, Tensor? delta, Tensor weight, double eps, Tensor output)
    {
        long dim = weight.shape[0], numel = residual.numel();
        int dtype = DType(residual);
        Expect(weight, "weight", dim, dtype);
        Expect(residual, "residual", numel - numel % dim, dtype);
        if (delta is not null) Expect(delta, "delta", numel, dtype);
        Expect(output, "output", numel, dtype);
        _native.AddRmsNorm(dtype, TensorPointer.Of(residual), delta is null ? 0 : TensorPointer.Of(delta), TensorPointer.Of(weight),
            TensorPointer.Of(output), residual.numel() / dim, (int)dim, (float)eps);
    }

    /// <inheritdoc/>
    public void RopeAndCacheWrite(Tensor qkv, RotaryEmbedding rope, KvStep step, IKvCache cache, int layer, Llama3Config config, Tensor query)
    {
        long rowLength = (config.Heads + 2L * config.KvHeads) * config.HeadDim, tokens = (long)step.BatchSize * step.QueryLength;
        int dtype = DType(qkv);
        Expect(qkv, "qkv", tokens * rowLength, dtype);
        Expect(query, "query", tokens * config.Heads * config.HeadDim, dtype);
        Expect(cache.Keys(layer), "key cache", cache.Keys(layer).numel(), dtype);
        Expect(cache.Values(layer), "value cache", cache.Keys(layer).numel(), dtype);
        if (step.Positions.dtype != ScalarType.Int64 || step.Slots.dtype != ScalarType.Int64 || step.Positions.numel() != tokens || step.Slots.numel() != tokens)
            throw new ArgumentException($"The step's positions and slots must be int64 [{tokens}].", nameof(step));
        _native.RopeKvWrite(dtype, TensorPointer.Of(qkv), rowLength, TensorPointer.Of(step.Positions), TensorPointer.Of(step.Slots),
            TensorPointer.Of(rope.Table), (long)step.BatchSize * step.QueryLength, config.Heads, config.KvHeads, config.HeadDim,
            TensorPointer.Of(query), TensorPointer.Of(cache.Keys(layer)), TensorPointer.Of(cache.Values(layer)));
    }

    /// <inheritdoc/>
    public void SiluMul(Tensor gateUp, Tensor output)
    {
        long numel = output.numel(), hidden = output.shape[^1];
        int dtype = DType(gateUp);
        Expect(gateUp, "gate_up", 2 * numel, dtype);
        Expect(output, "output", numel, dtype);
        _native.SiluMul(dtype, TensorPointer.Of(gateUp), TensorPointer.Of(output), numel / hidden, (int)hidden);
    }

    /// <inheritdoc/>
    public Tensor Argmax(Tensor logits)
    {
        if (logits.dim() != 2 || logits.device_type != TorchSharp.DeviceType.CUDA || !logits.is_contiguous() ||
            (logits.dtype != ScalarType.BFloat16 && logits.dtype != ScalarType.Float16))
            return logits.argmax(-1);
        long rows = logits.shape[0];
        Tensor ids = empty([rows], ScalarType.Int64, logits.device);
        _native.Argmax(DType(logits), TensorPointer.Of(logits), rows, (int)logits.shape[1], TensorPointer.Of(ids));
        return ids;
    }

    /// <summary>
    /// Every layer of a forward pass in one native call (<c>psk_forward_layers</c>: the kernels above, cuBLAS and
    /// flash attention, queued from native code), then the final residual add and RMSNorm: <paramref name="embeddings"/>
    /// [tokens, dim] in (used as the residual stream), the output head's input [tokens, dim] returned. Decode passes
    /// keep their scratch buffers between passes (grown with the batch); a prompt pass frees its own. Decode passes replay CUDA graphs
    /// when <see cref="CudaGraphs"/> is on. Flash attention only: its call is checked once and reused by every layer.
    /// </summary>
    internal Tensor ForwardLayers(Llama3 model, RotaryEmbedding rope, KvStep step, IKvCache cache, FlashAttentionBackend? flash,
        double softmaxScale, Tensor embeddings, PagedDecodeAttention? paged = null)
    {
        if (flash is null && paged is null) throw new ArgumentException("The layer loop attends with flash-attn or the paged decode kernel.", nameof(flash));
        if (paged is not null && (step.QueryLength != 1 || cache.Kind != KvCacheKind.Paged))
            throw new ArgumentException("The paged decode kernel takes decode passes over a paged cache.", nameof(paged));
        Llama3Config c = model.Config;
        int tokens = step.BatchSize * step.QueryLength;
        NativeLayer[] layers = Layers(model.Weights, cache);
        if (step.QueryLength > 1) return PromptPass(model, rope, step, cache, flash, paged, softmaxScale, embeddings, layers, ragged: null);
        // Decode passes keep theirs (grown with the batch), so that a captured graph can keep pointing into it.
        LayerBuffers b = Buffers(tokens, c, model.DType, model.Device);
        if (CudaGraphs)
        {
            // A graph holds its block table's width: a power of two of blocks, so that a growing context needs a new
            // graph only when it doubles, and attention still splits over the blocks actually in use.
            int columns = cache.Kind == KvCacheKind.Paged ? (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)step.BlockTable.shape[1]) : 1;
            DecodeStepViews v = _graphs.Views(step.BatchSize, columns, c.Dim, model.DType, model.Device);
            long capacity = (long)columns * cache.Keys(0).shape[1];
            if (step.MaxSequenceLength > capacity)
                throw new ArgumentException($"A sequence of {step.MaxSequenceLength} tokens exceeds the cache's {capacity} per sequence.", nameof(step));
            // The graph reads the step's inputs from its own buffers.
            KvStep inBuffers = step with { Positions = v.Positions, Slots = v.Slots, BlockTable = v.BlockTable, SequenceLengths = v.SequenceLengths };
            // The paged kernel's split is planned for the graph's capacity, so that every later length replays correctly.
            NativeForwardArgs graphArgs = Arguments(model, rope, inBuffers, cache, flash, paged, softmaxScale, b, v.Residual, v.Normed, (int)capacity);
            _graphs.Run(graphArgs, layers, v, step, embeddings, () => Run(graphArgs, layers));
            return v.Normed;
        }
        Tensor normed = empty([tokens, c.Dim], model.DType, model.Device);
        Run(Arguments(model, rope, step, cache, flash, paged, softmaxScale, b, embeddings, normed, step.MaxSequenceLength), layers);
        return normed;
    }

    /// <summary>
    /// A ragged prefill pass (prompts of several lengths) in one native call, as a prompt pass of
    /// <paramref name="writes"/>' tokens whose attention is one flash-attn call over every sequence
    /// (<paramref name="queries"/> says where each one's queries lie; <paramref name="writes"/> holds a block table row
    /// and a length a sequence). Returns the output head's input [tokens, dim].
    /// </summary>
    internal Tensor ForwardLayersRagged(Llama3 model, RotaryEmbedding rope, KvStep writes, IKvCache cache, FlashAttentionBackend flash,
        double softmaxScale, Tensor embeddings, RaggedQueries queries)
    {
        return PromptPass(model, rope, writes, cache, flash, null, softmaxScale, embeddings, Layers(model.Weights, cache), queries);
    }

    // A prompt pass (plain or ragged): its scratch lives for the pass only (up to ~1 GB for 8,192 tokens of Llama 3 8B),
    // as the memory model assumes: kept, it would sit beside the KV cache's peak during decode.
    private Tensor PromptPass(Llama3 model, RotaryEmbedding rope, KvStep step, IKvCache cache, FlashAttentionBackend? flash,
        PagedDecodeAttention? paged, double softmaxScale, Tensor embeddings, NativeLayer[] layers, RaggedQueries? ragged)
    {
        Llama3Config c = model.Config;
        int tokens = step.BatchSize * step.QueryLength;
        using var scratch = new LayerBuffers(tokens, c, model.DType, model.Device);
        Tensor normed = empty([tokens, c.Dim], model.DType, model.Device);
        Run(Arguments(model, rope, step, cache, flash, paged, softmaxScale, scratch, embeddings, normed, step.MaxSequenceLength, ragged), layers);
        return normed;
    }

    /// <summary>Decode passes replayed as CUDA graphs (on by default). Off, every pass queues its kernels one by one from native code.</summary>
    public bool CudaGraphs { get; init; } = true;

    /// <summary>CUDA graphs captured so far (recaptures included): for tests and diagnostics.</summary>
    public int GraphCaptures => _graphs.Captures;

    /// <summary>Passes run by replaying a CUDA graph.</summary>
    public int GraphReplays => _graphs.Replays;

    private unsafe NativeForwardArgs Arguments(Llama3 model, RotaryEmbedding rope, KvStep step, IKvCache cache, FlashAttentionBackend? flash,
        PagedDecodeAttention? paged, double softmaxScale, LayerBuffers b, Tensor residual, Tensor normed, int plannedLength, RaggedQueries? ragged = null)
    {
        Llama3Config c = model.Config;
        int tokens = step.BatchSize * step.QueryLength, qSize = c.Heads * c.HeadDim;
        using var views = NewDisposeScope();
        // A ragged pass's attention takes its tokens as one row of queries, located by the ragged starts.
        long[] shape = ragged is null ? [step.BatchSize, step.QueryLength, c.Heads, c.HeadDim] : [1, tokens, c.Heads, c.HeadDim];
        Tensor q = b.Q.narrow(0, 0, (long)tokens * qSize).view(shape);
        Tensor attn = b.Attn.narrow(0, 0, (long)tokens * qSize).view(shape);
        var inputs = new AttentionInputs(q, cache.Keys(0), cache.Values(0), cache.Kind, step.BlockTable, step.SequenceLengths,
            step.MaxSequenceLength, Causal: true, softmaxScale);
        FlashArgs attention;
        nint decodeAttention = 0;
        if (paged is not null)
        {
            // The flash arguments only describe q, attn, the batch, the lengths and the block table (what the loop checks
            // and a graph copies in); the paged kernel's own arguments live in native memory the loop reads during the
            // call (or the capture). Its plan goes into the flash fields a graph's signature compares.
            attention = FlashArguments.Describe(inputs, attn, 0);
            PagedDecodeArgs decode = paged.Describe(inputs, attn, plannedLength);
            if (_decodeArgs == null) _decodeArgs = (PagedDecodeArgs*)NativeMemory.Alloc((nuint)sizeof(PagedDecodeArgs));
            *_decodeArgs = decode;
            decodeAttention = (nint)_decodeArgs;
            (attention.NumSplits, attention.Workspace, attention.WorkspaceBytes, attention.MaxSeqLenK) =
                (paged.LastNumSplits, decode.Workspace, decode.WorkspaceBytes, plannedLength);
        }
        else
        {
            attention = flash!.Describe(inputs, attn, ragged);
        }
        return new NativeForwardArgs
        {
            DType = DType(residual), Tokens = tokens, Dim = c.Dim, Heads = c.Heads, KvHeads = c.KvHeads, HeadDim = c.HeadDim,
            Hidden = c.HiddenDim, Layers = c.Layers, NormEps = (float)c.NormEps,
            FinalNorm = TensorPointer.Of(model.Weights.Norm),
            Residual = TensorPointer.Of(residual), Normed = TensorPointer.Of(normed),
            Qkv = b.QkvPointer, Q = b.QPointer, Attn = b.AttnPointer, Delta = b.DeltaPointer, GateUp = b.GateUpPointer, Act = b.ActPointer,
            Positions = TensorPointer.Of(step.Positions), Slots = TensorPointer.Of(step.Slots), Rope = TensorPointer.Of(rope.Table),
            Attention = attention, Paged = cache.Kind == KvCacheKind.Paged ? 1 : 0, DecodeAttention = decodeAttention,
        };
    }

    private unsafe void Run(NativeForwardArgs args, NativeLayer[] layers)
    {
        fixed (NativeLayer* layer = layers)
        {
            args.Layer = (nint)layer;
            _native.ForwardLayers(args);
        }
    }

    private LayerBuffers Buffers(int tokens, Llama3Config c, ScalarType dtype, Device device)
    {
        if (_buffers is { } b && b.Tokens >= tokens && OnDevice(b.Q, device) && b.Q.dtype == dtype) return b;
        _buffers?.Dispose(); // graphs that point into them are recaptured (their arguments no longer match)
        _buffers = null; // freed before the larger set is allocated
        return _buffers = new LayerBuffers(tokens, c, dtype, device);
    }

    private NativeLayer[] Layers(Llama3Weights weights, IKvCache cache)
    {
        if (_layers is { } known && ReferenceEquals(known.Weights, weights) && ReferenceEquals(known.Cache, cache)) return known.Layers;
        var layers = new NativeLayer[weights.Layers.Count];
        for (int l = 0; l < layers.Length; l++)
        {
            LayerWeights w = weights.Layers[l];
            layers[l] = new NativeLayer
            {
                AttentionNorm = TensorPointer.Of(w.AttentionNorm), Wqkv = TensorPointer.Of(w.Wqkv), Wo = TensorPointer.Of(w.Wo),
                FfnNorm = TensorPointer.Of(w.FfnNorm), W13 = TensorPointer.Of(w.W13), W2 = TensorPointer.Of(w.W2),
                KCache = TensorPointer.Of(cache.Keys(l)), VCache = TensorPointer.Of(cache.Values(l)),
            };
        }
        _layers = (weights, cache, layers);
        return layers;
    }

    /// <summary>Scratch tensors of a native forward pass, flat, for up to <see cref="Tokens"/> tokens.</summary>
    private sealed class LayerBuffers : IDisposable
    {
        public LayerBuffers(int tokens, Llama3Config c, ScalarType dtype, Device device)
        {
            Tokens = tokens;
            long qSize = (long)c.Heads * c.HeadDim;
            Tensor Flat(long elements) => empty([elements], dtype, device).DetachFromDisposeScope();
            Qkv = Flat(tokens * (qSize + 2L * c.KvHeads * c.HeadDim));
            Q = Flat(tokens * qSize);
            Attn = Flat(tokens * qSize);
            Delta = Flat((long)tokens * c.Dim);
            GateUp = Flat(2L * tokens * c.HiddenDim);
            Act = Flat((long)tokens * c.HiddenDim);
            (QkvPointer, QPointer, AttnPointer) = (TensorPointer.Of(Qkv), TensorPointer.Of(Q), TensorPointer.Of(Attn));
            (DeltaPointer, GateUpPointer, ActPointer) = (TensorPointer.Of(Delta), TensorPointer.Of(GateUp), TensorPointer.Of(Act));
        }

        public int Tokens { get; }
        public Tensor Qkv { get; }
        public Tensor Q { get; }
        public Tensor Attn { get; }
        public Tensor Delta { get; }
        public Tensor GateUp { get; }
        public Tensor Act { get; }
        public nint QkvPointer { get; }
        public nint QPointer { get; }
        public nint AttnPointer { get; }
        public nint DeltaPointer { get; }
        public nint GateUpPointer { get; }
        public nint ActPointer { get; }

        public void Dispose()
        {
            foreach (Tensor t in new[] { Qkv, Q, Attn, Delta, GateUp, Act }) t.Dispose();
        }
    }

    /// <summary>Frees the native layer loop's scratch buffers (the model that uses these kernels disposes them).</summary>
    public unsafe void Dispose()
    {
        if (_decodeArgs != null) NativeMemory.Free(_decodeArgs);
        _decodeArgs = null;
        _graphs.Dispose();
        _buffers?.Dispose();
        _buffers = null;
        _layers = null;
    }

    // The kernels trust their sizes: check what a caller could get wrong (the native layer loop does not come here).
    private static void Expect(Tensor t, string name, long elements, int dtype)
    {
        if (t.device_type != TorchSharp.DeviceType.CUDA || DType(t) != dtype || !t.is_contiguous() || t.numel() != elements)
            throw new ArgumentException($"The {name} must be a contiguous CUDA tensor of {elements} {(dtype == 1 ? "bf16" : "fp16")} elements; it is {t.dtype} [{string.Join(", ", t.shape)}] on {t.device}{(t.is_contiguous() ? "" : ", not contiguous")}.");
    }

    /// <summary>Whether <paramref name="t"/> lives on <paramref name="device"/> (Device has no value equality).</summary>
    internal static bool OnDevice(Tensor t, Device device) => t.device_type == device.type && (t.device_index == device.index || device.index < 0);

    private static int DType(Tensor t) => t.dtype switch
    {
        ScalarType.BFloat16 => 1,
        ScalarType.Float16 => 0,
        _ => throw new ArgumentException($"The fused kernels take bf16 or fp16 tensors, not {t.dtype}."),
    };
}
