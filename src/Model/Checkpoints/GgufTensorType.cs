namespace PagedSim.Model.Checkpoints;

/// <summary>
/// The ggml tensor types this loader reads (<c>ggml_type</c> numbering). Others (the k-quants, the i-quants, integer
/// types) are refused by name.
/// </summary>
internal enum GgufTensorType : uint
{
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
    BF16 = 30,
}

/// <summary>Block sizes of the supported ggml types.</summary>
internal static class GgufTensorTypes
{
    /// <summary>Elements in one Q8_0 block: a float16 scale and 32 signed bytes.</summary>
    public const int Q8BlockElements = 32;

    /// <summary>Bytes of one Q8_0 block.</summary>
    public const int Q8BlockBytes = 2 + Q8BlockElements;

    /// <summary>True for the types <see cref="GgufTensorType"/> names.</summary>
    public static bool IsSupported(uint type) => type is 0 or 1 or 8 or 30;

    /// <summary>ggml's name of a type number, for messages.</summary>
    public static string Name(uint type) => type switch
    {
        0 => "F32", 1 => "F16", 2 => "Q4_0", 3 => "Q4_1", 6 => "Q5_0", 7 => "Q5_1", 8 => "Q8_0", 9 => "Q8_1",
        10 => "Q2_K", 11 => "Q3_K", 12 => "Q4_K", 13 => "Q5_K", 14 => "Q6_K", 15 => "Q8_K", 24 => "I8", 25 => "I16",
        26 => "I32", 27 => "I64", 28 => "F64", 30 => "BF16",
        _ => $"type {type}",
    };

    /// <summary>
    /// Bytes of <paramref name="elements"/> elements of <paramref name="type"/> (a supported one), or -1 when the count
    /// does not fill whole blocks. <paramref name="elements"/> is at most 2^62, so no product overflows.
    /// </summary>
    public static long ByteSize(GgufTensorType type, long elements) => type switch
    {
        GgufTensorType.F32 => elements * 4,
        GgufTensorType.F16 or GgufTensorType.BF16 => elements * 2,
        GgufTensorType.Q8_0 => elements % Q8BlockElements == 0 ? elements / Q8BlockElements * Q8BlockBytes : -1,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
