using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// Reads a <c>.safetensors</c> file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
/// shape and byte range, then the raw data. The header is checked against the file size up front, so a truncated file
/// is reported by name with the first tensor it cuts into.
/// </summary>
internal sealed class SafetensorsFile
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly long _dataStart;

    private SafetensorsFile(string path, long dataStart)
    {
        Path = path;
        _dataStart = dataStart;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>Tensor names in the file.</summary>
    public IEnumerable<string> Names => _entries.Keys;

    /// <summary>Reads and validates the header.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        using FileStream stream = File.OpenRead(path);
        long length = stream.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (length < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw new CheckpointException($"{path}: truncated safetensors file ({length} bytes, no header)");
        long headerLength = BitConverter.ToInt64(prefix);
        if (headerLength <= 0 || headerLength > length - 8 || headerLength > 100_000_000)
            throw new CheckpointException($"{path}: truncated or not a safetensors file (header length {headerLength}, file {length} bytes)");
        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);
        var file = new SafetensorsFile(path, 8 + headerLength);
        long dataLength = length - file._dataStart;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(header);
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__") continue;
                string dtype = p.Value.GetProperty("dtype").GetString() ?? "";
                long[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                long[] range = p.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                if (range.Length != 2 || range[0] < 0 || range[1] < range[0])
                    throw new CheckpointException($"{path}: tensor '{p.Name}' has invalid data_offsets");
                if (range[1] > dataLength)
                    throw new CheckpointException($"{path}: truncated file: tensor '{p.Name}' ends at byte {file._dataStart + range[1]} but the file has {length}");
                file._entries[p.Name] = new Entry(dtype, shape, range[0], range[1]);
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new CheckpointException($"{path}: malformed safetensors header ({e.Message})", e);
        }
        return file;
    }

    /// <summary>Whether the file holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>Reads one tensor onto the CPU, in the file's dtype.</summary>
    public Tensor Read(string name)
    {
        Entry e = _entries[name];
        ScalarType type = e.DType switch
        {
            "BF16" => ScalarType.BFloat16,
            "F16" => ScalarType.Float16,
            "F32" => ScalarType.Float32,
            "F64" => ScalarType.Float64,
            "I64" => ScalarType.Int64,
            "I32" => ScalarType.Int32,
            "I16" => ScalarType.Int16,
            "I8" => ScalarType.Int8,
            "U8" => ScalarType.Byte,
            "BOOL" => ScalarType.Bool,
            _ => throw new CheckpointException($"{Path}: tensor '{name}' has unsupported dtype {e.DType}"),
        };
        // The shape is checked against the byte range (itself inside the file) before anything is allocated: a header
        // may claim any dimensions, including negative ones or ones whose product overflows.
        long elements = 1;
        foreach (long d in e.Shape)
        {
            if (d < 0 || (d > 0 && elements > (1L << 60) / d))
                throw new CheckpointException($"{Path}: tensor '{name}' has impossible shape {Shape(e.Shape)}");
            elements *= d;
        }
        long bytes = elements * ElementSize(type);
        if (bytes != e.End - e.Start)
            throw new CheckpointException($"{Path}: tensor '{name}' has {e.End - e.Start} bytes, but {e.DType} {Shape(e.Shape)} needs {bytes}");
        Tensor t = empty(e.Shape, type);
        using FileStream stream = File.OpenRead(Path);
        stream.Position = _dataStart + e.Start;
        t.ReadBytesFromStream(stream, (int)Math.Clamp(bytes, 1, 1 << 24)); // the buffer, not more than the tensor
        return t;
    }

    private static long ElementSize(ScalarType type) => type switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    private static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    private readonly record struct Entry(string DType, long[] Shape, long Start, long End);
}
