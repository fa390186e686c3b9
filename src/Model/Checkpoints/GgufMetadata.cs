namespace PagedSim.Model.Checkpoints;

/// <summary>Typed reads of a <see cref="GgufFile"/>'s metadata; a missing or mistyped value is one line naming the key.</summary>
internal static class GgufMetadata
{
    /// <summary>An integer of any GGUF integer type that fits an int.</summary>
    public static int Int(GgufFile f, string key) =>
        TryInt(f, key) ?? throw new CheckpointException($"{f.Path}: missing metadata '{key}'");

    /// <summary>As <see cref="Int"/>, or null when absent.</summary>
    public static int? TryInt(GgufFile f, string key)
    {
        if (!f.Metadata.TryGetValue(key, out object? v)) return null;
        long? x = v switch
        {
            byte b => b, sbyte b => b, ushort u => u, short s => s, uint u => u, int i => i, long l => l,
            ulong u when u <= long.MaxValue => (long)u,
            _ => null,
        };
        if (x is not long n || n < int.MinValue || n > int.MaxValue)
            throw new CheckpointException($"{f.Path}: metadata '{key}' must be an integer that fits 32 bits, got {Describe(v)}");
        return (int)n;
    }

    /// <summary>A float32 or float64 value, or null when absent.</summary>
    public static double? TryDouble(GgufFile f, string key)
    {
        if (!f.Metadata.TryGetValue(key, out object? v)) return null;
        return v switch
        {
            float x => x,
            double x => x,
            _ => throw new CheckpointException($"{f.Path}: metadata '{key}' must be a float, got {Describe(v)}"),
        };
    }

    /// <summary>A string value, or null when absent.</summary>
    public static string? TryString(GgufFile f, string key)
    {
        if (!f.Metadata.TryGetValue(key, out object? v)) return null;
        return v as string ?? throw new CheckpointException($"{f.Path}: metadata '{key}' must be a string, got {Describe(v)}");
    }

    /// <summary>An array of <typeparamref name="T"/> (e.g. <c>string[]</c>, <c>float[]</c>, <c>int[]</c>), or null when absent.</summary>
    public static T[]? TryArray<T>(GgufFile f, string key)
    {
        if (!f.Metadata.TryGetValue(key, out object? v)) return null;
        return v as T[] ?? throw new CheckpointException($"{f.Path}: metadata '{key}' must be an array of {typeof(T).Name}, got {Describe(v)}");
    }

    private static string Describe(object v) => v is Array a ? $"an array of {a.Length} {a.GetType().GetElementType()!.Name}" : $"{v.GetType().Name} {v}";
}
