namespace PagedSim.Model.Checkpoints;

/// <summary>
/// A parsed and validated GGUF file (versions 2 and 3): its metadata and tensor infos, without the tensor data. Every
/// count, length, dimension and offset the header claims is checked against the file size while it is read, so a
/// truncated, corrupted or hostile file is refused with one line before anything is allocated for its tensors
/// (<see cref="GgufTensorReader"/> creates them later, from validated infos only).
/// </summary>
internal sealed class GgufFile
{
    /// <summary>"GGUF" read as a little-endian u32.</summary>
    private const uint Magic = 0x46554747;

    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    private const int MaxDims = 4;

    /// <summary>Alignment of the data section when general.alignment is absent.</summary>
    private const uint DefaultAlignment = 32;

    /// <summary>Arrays nested deeper than this are refused (the format allows nesting; no real file goes past 1).</summary>
    private const int MaxArrayDepth = 4;

    private GgufFile(string path, uint version, IReadOnlyDictionary<string, object> metadata,
        IReadOnlyDictionary<string, GgufTensorInfo> tensors, long dataStart, long length)
    {
        Path = path;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        DataStart = dataStart;
        Length = length;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>GGUF version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>
    /// Metadata values by key: numbers as their C# type (byte, int, float, ulong, ...), bool, string, arrays as typed
    /// arrays (<c>string[]</c>, <c>float[]</c>, <c>int[]</c>, ...; nested arrays as <c>object[]</c>).
    /// </summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }

    /// <summary>Tensor infos by name, in file order.</summary>
    public IReadOnlyDictionary<string, GgufTensorInfo> Tensors { get; }

    /// <summary>Absolute offset of the (aligned) data section.</summary>
    public long DataStart { get; }

    /// <summary>File size in bytes.</summary>
    public long Length { get; }

    /// <summary>True when <paramref name="path"/> is a file that starts with GGUF's magic.</summary>
    public static bool HasMagic(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            using FileStream s = File.OpenRead(path);
            Span<byte> b = stackalloc byte[4];
            return s.ReadAtLeast(b, 4, throwOnEndOfStream: false) == 4 && BitConverter.ToUInt32(b) == Magic;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Reads and validates the header, the metadata and the tensor infos.</summary>
    /// <exception cref="CheckpointException">Anything wrong, as one line naming the file.</exception>
    public static GgufFile Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        using var r = new GgufReader(path);
        if (r.Length < 24) throw new CheckpointException($"{path}: truncated or not a GGUF file ({r.Length} bytes)");
        if (r.U32("magic") != Magic) throw new CheckpointException($"{path}: not a GGUF file (no GGUF magic)");
        uint version = r.U32("version");
        if (version is not (2 or 3)) throw new CheckpointException($"{path}: GGUF version {version} is not supported (2 and 3 are)");
        long tensorCount = r.Count("tensor count");
        long kvCount = r.Count("metadata count");
        // Each metadata entry takes at least 13 bytes (key length, type, one value byte) and each tensor info 24 (name
        // length, dimension count, type, offset): a count that cannot fit in the file is refused before any loop.
        if (kvCount > r.Remaining / 13) throw new CheckpointException($"{path}: metadata count {kvCount} cannot fit in a {r.Length}-byte file");
        if (tensorCount > r.Remaining / 24) throw new CheckpointException($"{path}: tensor count {tensorCount} cannot fit in a {r.Length}-byte file");

        var metadata = new Dictionary<string, object>((int)kvCount, StringComparer.Ordinal);
        for (long i = 0; i < kvCount; i++)
        {
            string key = r.String($"metadata key {i}");
            var type = (GgufValueType)r.U32($"type of '{key}'");
            object value = ReadValue(r, type, key, depth: 0);
            if (!metadata.TryAdd(key, value)) throw r.Fail($"metadata key '{key}' appears twice");
        }

        uint alignment = DefaultAlignment;
        if (metadata.TryGetValue("general.alignment", out object? a))
        {
            if (a is not uint al || al == 0 || (al & (al - 1)) != 0 || al > 1 << 24)
                throw new CheckpointException($"{path}: general.alignment must be a power of two u32, got {a}");
            alignment = al;
        }

        var infos = new List<(string Name, long[] Dims, GgufTensorType Type, long Offset, long Bytes)>((int)tensorCount);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            string name = r.String($"tensor name {i}");
            if (!names.Add(name)) throw r.Fail($"tensor '{name}' appears twice");
            uint n = r.U32($"dimension count of '{name}'");
            if (n is 0 or > MaxDims) throw r.Fail($"tensor '{name}' has {n} dimensions (1 to {MaxDims} allowed)");
            var dims = new long[n];
            long elements = 1;
            for (int d = 0; d < n; d++)
            {
                ulong dim = r.U64($"dimension {d} of '{name}'");
                // 2^62 bounds the element count so that byte sizes (×4) cannot overflow a long.
                if (dim == 0 || dim > 1UL << 62 || (ulong)elements > (1UL << 62) / dim)
                    throw r.Fail($"tensor '{name}' has dimension {d} = {dim}: zero, or the element count overflows");
                dims[d] = (long)dim;
                elements *= (long)dim;
            }
            uint type = r.U32($"type of '{name}'");
            if (!GgufTensorTypes.IsSupported(type))
                throw r.Fail($"tensor '{name}' has type {GgufTensorTypes.Name(type)}; supported: F32, F16, BF16, Q8_0");
            long bytes = GgufTensorTypes.ByteSize((GgufTensorType)type, elements);
            if (bytes < 0) throw r.Fail($"tensor '{name}' has {elements} elements, not whole {GgufTensorTypes.Name(type)} blocks");
            if (dims[0] % (type == (uint)GgufTensorType.Q8_0 ? GgufTensorTypes.Q8BlockElements : 1) != 0)
                throw r.Fail($"tensor '{name}' rows of {dims[0]} are not whole Q8_0 blocks");
            long offset = r.Count($"data offset of '{name}'");
            if (offset % alignment != 0) throw r.Fail($"tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}");
            infos.Add((name, dims, (GgufTensorType)type, offset, bytes));
        }

        long dataStart = (r.Position + alignment - 1) / alignment * alignment;
        var tensors = new Dictionary<string, GgufTensorInfo>(infos.Count, StringComparer.Ordinal);
        foreach ((string name, long[] dims, GgufTensorType type, long offset, long bytes) in infos)
        {
            if (offset > r.Length - dataStart || bytes > r.Length - dataStart - offset)
                throw new CheckpointException(
                    $"{path}: truncated GGUF file: tensor '{name}' ({bytes} bytes at data offset {offset}) ends past the end of the file ({r.Length} bytes)");
            tensors[name] = new GgufTensorInfo(name, dims, type, dataStart + offset, bytes);
        }
        return new GgufFile(path, version, metadata, tensors, dataStart, r.Length);
    }

    private static object ReadValue(GgufReader r, GgufValueType type, string key, int depth)
    {
        string what = $"value of '{key}'";
        return type switch
        {
            GgufValueType.UInt8 => r.Take(1, what)[0],
            GgufValueType.Int8 => (sbyte)r.Take(1, what)[0],
            GgufValueType.UInt16 => BitConverter.ToUInt16(r.Take(2, what)),
            GgufValueType.Int16 => BitConverter.ToInt16(r.Take(2, what)),
            GgufValueType.UInt32 => r.U32(what),
            GgufValueType.Int32 => (int)r.U32(what),
            GgufValueType.Float32 => BitConverter.UInt32BitsToSingle(r.U32(what)),
            GgufValueType.Bool => r.Take(1, what)[0] switch
            {
                0 => false,
                1 => true,
                byte b => throw r.Fail($"'{key}' is a bool of value {b}"),
            },
            GgufValueType.String => r.String(what),
            GgufValueType.UInt64 => r.U64(what),
            GgufValueType.Int64 => (long)r.U64(what),
            GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(r.U64(what)),
            GgufValueType.Array => ReadArray(r, key, depth),
            _ => throw r.Fail($"metadata '{key}' has unknown value type {(uint)type}"),
        };
    }

    private static object ReadArray(GgufReader r, string key, int depth)
    {
        if (depth >= MaxArrayDepth) throw r.Fail($"metadata '{key}' nests arrays deeper than {MaxArrayDepth}");
        var type = (GgufValueType)r.U32($"element type of '{key}'");
        long count = r.Count($"length of '{key}'");
        long minSize = type switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw r.Fail($"metadata '{key}' is an array of unknown type {(uint)type}"),
        };
        if (count > r.Remaining / minSize || count > Array.MaxLength)
            throw r.Fail($"metadata '{key}' claims {count} elements, more than the file holds");
        int n = (int)count;
        switch (type)
        {
            case GgufValueType.String:
            {
                var a = new string[n];
                for (int i = 0; i < n; i++) a[i] = r.String($"element {i} of '{key}'");
                return a;
            }
            case GgufValueType.Float32:
            {
                var a = new float[n];
                for (int i = 0; i < n; i++) a[i] = BitConverter.UInt32BitsToSingle(r.U32(key));
                return a;
            }
            case GgufValueType.Int32:
            {
                var a = new int[n];
                for (int i = 0; i < n; i++) a[i] = (int)r.U32(key);
                return a;
            }
            case GgufValueType.UInt32:
            {
                var a = new uint[n];
                for (int i = 0; i < n; i++) a[i] = r.U32(key);
                return a;
            }
            default:
            {
                var a = new object[n];
                for (int i = 0; i < n; i++) a[i] = ReadValue(r, type, key, depth + 1);
                return a;
            }
        }
    }
}
