using System.Buffers.Binary;
using System.Text;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// Little-endian reads from a GGUF file's header that never run past the end of the file and never allocate more than
/// the bytes that remain: every length and count is checked against the remaining size before it is used. Failures
/// are <see cref="CheckpointException"/>s naming the file and what was being read.
/// </summary>
internal sealed class GgufReader : IDisposable
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private readonly BufferedStream _stream;
    private readonly byte[] _scratch = new byte[8];

    public GgufReader(string path)
    {
        Path = path;
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path}: cannot read ({e.Message})", e);
        }
        Length = file.Length;
        _stream = new BufferedStream(file, 1 << 16);
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>File size in bytes.</summary>
    public long Length { get; }

    /// <summary>Current offset.</summary>
    public long Position => _stream.Position;

    /// <summary>Bytes left after <see cref="Position"/>.</summary>
    public long Remaining => Length - _stream.Position;

    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>A count or size that must fit in a non-negative long.</summary>
    public long Count(string what)
    {
        ulong v = U64(what);
        if (v > long.MaxValue) throw Fail($"{what} {v} is absurd");
        return (long)v;
    }

    /// <summary>Skips <paramref name="bytes"/> bytes (checked against the file size first).</summary>
    public void Skip(long bytes, string what)
    {
        if (bytes < 0 || bytes > Remaining) throw Truncated(what, bytes);
        _stream.Seek(bytes, SeekOrigin.Current);
    }

    /// <summary>A GGUF string: u64 byte length, then that many bytes of UTF-8 (strictly decoded).</summary>
    public string String(string what)
    {
        long length = Count($"{what} length");
        if (length > Remaining) throw Truncated(what, length);
        if (length > int.MaxValue) throw Fail($"{what} of {length} bytes is absurd");
        byte[] bytes = new byte[length];
        _stream.ReadExactly(bytes);
        try
        {
            return s_strictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Fail($"{what} is not valid UTF-8");
        }
    }

    /// <summary>Reads <paramref name="count"/> bytes into the scratch buffer (count ≤ 8).</summary>
    public ReadOnlySpan<byte> Take(int count, string what)
    {
        if (count > Remaining) throw Truncated(what, count);
        _stream.ReadExactly(_scratch, 0, count);
        return _scratch.AsSpan(0, count);
    }

    public CheckpointException Fail(string why) => new($"{Path}: {why} (at byte {Position} of {Length})");

    public CheckpointException Truncated(string what, long needed) =>
        new($"{Path}: truncated GGUF file: {what} needs {needed} bytes at byte {Position}, but the file ends at {Length}");

    public void Dispose() => _stream.Dispose();
}
