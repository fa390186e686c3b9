using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// Turns <see cref="AttentionInputs"/> into the native <see cref="FlashArgs"/>: pointers, element strides and sizes.
/// Checks here what the library cannot see (devices, dtypes, ranks, a contiguous head dim, int32 tables); the library
/// checks the rest (head dim, page size, strides, lengths against the block table). Runs once per layer and step, so
/// it reads each shape and stride once and builds error messages only on failure.
/// </summary>
internal static class FlashArguments
{
    /// <summary>Describes one call; <paramref name="numSplits"/> 0 = heuristic.</summary>
    public static FlashArgs Describe(AttentionInputs a, Tensor output, int numSplits) => Describe(a, output, numSplits, null);

    /// <summary>
    /// Describes one call; with <paramref name="ragged"/>, one over requests of different query lengths: the query and
    /// output are [1, Σ lengths, heads, headDim] and the block table and lengths have a row a request.
    /// </summary>
    public static FlashArgs Describe(AttentionInputs a, Tensor output, int numSplits, RaggedQueries? ragged)
    {
        Tensor q = a.Query, k = a.KeyCache, v = a.ValueCache, table = a.BlockTable, lengths = a.SequenceLengths;
        if (q.device_type != DeviceType.CUDA)
            throw Error(FlashStatus.Device, $"the query is on {q.device}; flash attention runs on CUDA only");
        int device = q.device_index;
        CheckDevice("key cache", k, device);
        CheckDevice("value cache", v, device);
        CheckDevice("output", output, device);
        CheckDevice("block table", table, device);
        CheckDevice("sequence lengths", lengths, device);

        ScalarType dtype = q.dtype;
        if (dtype is not (ScalarType.BFloat16 or ScalarType.Float16))
            throw Error(FlashStatus.DType, $"the query is {dtype}; flash attention takes bf16 or fp16");
        if (k.dtype != dtype || v.dtype != dtype || output.dtype != dtype)
            throw Error(FlashStatus.DType, $"dtypes differ: query {dtype}, keys {k.dtype}, values {v.dtype}, output {output.dtype}");

        long[] qShape = q.shape, kShape = k.shape, tableShape = table.shape, lengthsShape = lengths.shape;
        if (qShape.Length != 4 || kShape.Length != 4)
            throw Error(FlashStatus.Shape, $"query [{Dims(qShape)}] and caches [{Dims(kShape)}] must have 4 dimensions");
        if (!output.shape.AsSpan().SequenceEqual(qShape))
            throw Error(FlashStatus.Shape, $"the output [{Dims(output.shape)}] is not shaped like the query [{Dims(qShape)}]");
        if (!v.shape.AsSpan().SequenceEqual(kShape))
            throw Error(FlashStatus.Shape, $"the value cache [{Dims(v.shape)}] is not shaped like the key cache [{Dims(kShape)}]");
        if (kShape[3] != qShape[3])
            throw Error(FlashStatus.HeadDim, $"head dims differ: query {qShape[3]}, cache {kShape[3]}");
        foreach (long d in qShape) CheckInt32(d);
        foreach (long d in kShape) CheckInt32(d);

        long[] qStride = HeadDimContiguous("query", q), oStride = HeadDimContiguous("output", output);
        long[] kStride = HeadDimContiguous("key cache", k), vStride = HeadDimContiguous("value cache", v);
        long[] tableStride = table.stride(), lengthsStride = lengths.stride();
        long batch = ragged is null ? qShape[0] : tableShape[0];
        if (ragged is not null)
        {
            Tensor starts = ragged.Starts;
            CheckDevice("query starts", starts, device);
            if (qShape[0] != 1 || starts.dtype != ScalarType.Int32 || starts.dim() != 1 || starts.shape[0] != batch + 1 || !starts.is_contiguous())
                throw Error(FlashStatus.Shape, $"a ragged call takes the query as [1, tokens, heads, headDim] and int32 starts [batch + 1 = {batch + 1}]; got query [{Dims(qShape)}], starts {starts.dtype} [{Dims(starts.shape)}]");
        }
        if (table.dtype != ScalarType.Int32 || tableShape.Length != 2 || tableShape[0] != batch || tableStride[1] != 1)
            throw Error(FlashStatus.BlockTable, $"the block table must be int32 [batch={batch}, n] with contiguous rows; it is {table.dtype} [{Dims(tableShape)}]");
        CheckInt32(tableShape[1]);
        if (lengths.dtype != ScalarType.Int32 || lengthsShape.Length != 1 || lengthsShape[0] != batch || lengthsStride[0] != 1)
            throw Error(FlashStatus.SequenceLength, $"the sequence lengths must be a contiguous int32 [batch={batch}]; they are {lengths.dtype} [{Dims(lengthsShape)}]");

        return new FlashArgs
        {
            DType = dtype == ScalarType.BFloat16 ? 1 : 0,
            Batch = (int)batch,
            SeqLenQ = ragged is null ? (int)qShape[1] : ragged.MaxLength,
            NumHeads = (int)qShape[2],
            NumHeadsK = (int)kShape[2],
            HeadDim = (int)qShape[3],
            Causal = a.Causal ? 1 : 0,
            SoftmaxScale = (float)a.SoftmaxScale,
            Q = TensorPointer.Of(q), QBatchStride = qStride[0], QRowStride = qStride[1], QHeadStride = qStride[2],
            Out = TensorPointer.Of(output), OutBatchStride = oStride[0], OutRowStride = oStride[1], OutHeadStride = oStride[2],
            K = TensorPointer.Of(k), KBatchStride = kStride[0], KRowStride = kStride[1], KHeadStride = kStride[2],
            V = TensorPointer.Of(v), VBatchStride = vStride[0], VRowStride = vStride[1], VHeadStride = vStride[2],
            CacheBatch = (int)kShape[0],
            CacheLen = (int)kShape[1],
            // Paged: block ids per row. Contiguous: [batch, 1] cache rows, i.e. one int32 per request (stride 1).
            BlockTable = TensorPointer.Of(table),
            BlockTableStride = tableStride[0],
            MaxBlocksPerSeq = (int)tableShape[1],
            SeqLensK = TensorPointer.Of(lengths),
            MaxSeqLenK = a.MaxSequenceLength,
            NumSplits = numSplits,
            Device = device < 0 ? 0 : device,
            Stream = 0, // the legacy default stream: TorchSharp's own (it exposes no current-stream API)
            CuSeqLensQ = ragged is null ? 0 : TensorPointer.Of(ragged.Starts),
        };
    }

    private static void CheckDevice(string name, Tensor t, int device)
    {
        if (t.device_type != DeviceType.CUDA || t.device_index != device)
            throw Error(FlashStatus.Device, $"the {name} is on {t.device}, the query on cuda:{device}");
    }

    private static long[] HeadDimContiguous(string name, Tensor t)
    {
        long[] strides = t.stride();
        if (strides[^1] != 1) throw Error(FlashStatus.Stride, $"the {name}'s head dim is not contiguous (stride {strides[^1]})");
        return strides;
    }

    private static void CheckInt32(long dimension)
    {
        if (dimension > int.MaxValue) throw Error(FlashStatus.Shape, $"a dimension ({dimension}) exceeds int32");
    }

    private static FlashAttentionException Error(FlashStatus status, string message) => new(status, message);

    private static string Dims(long[] shape) => string.Join(", ", shape);
}
