namespace PagedSim.Model.Checkpoints;

/// <summary>
/// One tensor of a GGUF file, validated against the file: <paramref name="Dims"/> in ggml's order (innermost first,
/// so a PyTorch <c>[out, in]</c> weight is stored as <c>[in, out]</c>), its type, and its absolute byte range.
/// </summary>
/// <param name="Name">Tensor name, e.g. <c>blk.0.attn_q.weight</c>.</param>
/// <param name="Dims">ggml dimensions, innermost first.</param>
/// <param name="Type">Element type.</param>
/// <param name="Start">Absolute file offset of the data.</param>
/// <param name="ByteLength">Bytes of the data.</param>
internal sealed record GgufTensorInfo(string Name, long[] Dims, GgufTensorType Type, long Start, long ByteLength)
{
    /// <summary>Elements in the tensor.</summary>
    public long Elements => Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>The PyTorch shape: the ggml dimensions reversed (outermost first).</summary>
    public long[] TorchShape => Dims.Reverse().ToArray();
}
