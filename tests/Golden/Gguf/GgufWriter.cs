using System.Text;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Gguf;

/// <summary>
/// Writes GGUF v3 files for tests, following the format's specification (ggml's docs/gguf.md) independently of the
/// reader: metadata of any value type, tensors as F32, F16, BF16 or Q8_0 (quantised here, round to nearest as
/// ggml's reference quantize_row_q8_0), data aligned to <c>general.alignment</c> (32 unless set).
/// </summary>
internal sealed class GgufWriter
{
    private readonly List<(string Key, uint Type, Action<BinaryWriter> Write)> _metadata = [];
    private readonly List<(string Name, long[] Shape, uint Type, byte[] Data)> _tensors = [];
    private uint _alignment = 32;

    public GgufWriter Add(string key, string value) => Add(key, 8, w => Str(w, value));

    public GgufWriter Add(string key, uint value) => Add(key, 4, w => w.Write(value));

    public GgufWriter Add(string key, int value) => Add(key, 5, w => w.Write(value));

    public GgufWriter Add(string key, float value) => Add(key, 6, w => w.Write(value));

    public GgufWriter Add(string key, bool value) => Add(key, 7, w => w.Write((byte)(value ? 1 : 0)));

    public GgufWriter Add(string key, ulong value) => Add(key, 10, w => w.Write(value));

    public GgufWriter Add(string key, double value) => Add(key, 12, w => w.Write(value));

    public GgufWriter Add(string key, string[] values) => Array(key, 8, values.Length, w => { foreach (string v in values) Str(w, v); });

    public GgufWriter Add(string key, float[] values) => Array(key, 6, values.Length, w => { foreach (float v in values) w.Write(v); });

    public GgufWriter Add(string key, int[] values) => Array(key, 5, values.Length, w => { foreach (int v in values) w.Write(v); });

    /// <summary>Sets general.alignment (a u32 key, as llama.cpp writes it).</summary>
    public GgufWriter Alignment(uint alignment)
    {
        _alignment = alignment;
        return Add("general.alignment", alignment);
    }

    /// <summary>Adds a tensor (PyTorch shape, outermost first) stored as <paramref name="type"/>: F32, F16, BF16 or Q8_0.</summary>
    public GgufWriter Tensor(string name, Tensor t, string type = "F32")
    {
        using Tensor f = t.to(ScalarType.Float32).contiguous();
        float[] values = f.data<float>().ToArray();
        (uint code, byte[] data) = type switch
        {
            "F32" => (0u, values.SelectMany(BitConverter.GetBytes).ToArray()),
            "F16" => (1u, values.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray()),
            "BF16" => (30u, Bf16(t)),
            "Q8_0" => (8u, Q8(values)),
            _ => throw new ArgumentException(type, nameof(type)),
        };
        _tensors.Add((name, t.shape, code, data));
        return this;
    }

    public byte[] ToArray()
    {
        var ms = new MemoryStream();
        using var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true);
        w.Write(0x46554747u);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach ((string key, uint type, Action<BinaryWriter> write) in _metadata)
        {
            Str(w, key);
            w.Write(type);
            write(w);
        }
        long offset = 0;
        var offsets = new List<long>();
        foreach ((string name, long[] shape, uint type, byte[] data) in _tensors)
        {
            Str(w, name);
            w.Write((uint)shape.Length);
            foreach (long d in shape.Reverse()) w.Write((ulong)d); // ggml order: innermost first
            w.Write(type);
            w.Write((ulong)offset);
            offsets.Add(offset);
            offset = Align(offset + data.Length);
        }
        w.Flush();
        Pad(ms);
        foreach ((_, _, _, byte[] data) in _tensors)
        {
            ms.Write(data);
            Pad(ms);
        }
        return ms.ToArray();
    }

    public void Save(string path) => File.WriteAllBytes(path, ToArray());

    private GgufWriter Add(string key, uint type, Action<BinaryWriter> write)
    {
        _metadata.Add((key, type, write));
        return this;
    }

    private GgufWriter Array(string key, uint elementType, int count, Action<BinaryWriter> write) =>
        Add(key, 9, w =>
        {
            w.Write(elementType);
            w.Write((ulong)count);
            write(w);
        });

    private long Align(long x) => (x + _alignment - 1) / _alignment * _alignment;

    private void Pad(MemoryStream ms)
    {
        while (ms.Length % _alignment != 0) ms.WriteByte(0);
    }

    private static void Str(BinaryWriter w, string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }

    private static byte[] Bf16(Tensor t)
    {
        // bf16 is the upper half of the float32 bits of a bf16-representable value.
        using Tensor b = t.to(ScalarType.BFloat16).to(ScalarType.Float32).contiguous();
        return b.data<float>().ToArray().SelectMany(v => BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits(v) >> 16))).ToArray();
    }

    /// <summary>What <see cref="Q8"/>'s blocks stand for: the float16 scale times each int8.</summary>
    internal static float[] Q8Values(float[] values)
    {
        byte[] q = Q8(values);
        var result = new float[values.Length];
        for (int b = 0; b < values.Length / 32; b++)
        {
            float d = (float)BitConverter.ToHalf(q, b * 34);
            for (int i = 0; i < 32; i++) result[b * 32 + i] = d * (sbyte)q[b * 34 + 2 + i];
        }
        return result;
    }

    /// <summary>ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127, q = round(x / d).</summary>
    internal static byte[] Q8(float[] values)
    {
        var result = new List<byte>();
        for (int b = 0; b < values.Length; b += 32)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(values[b + i]));
            float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
            result.AddRange(BitConverter.GetBytes((Half)d));
            for (int i = 0; i < 32; i++) result.Add((byte)(sbyte)MathF.Round(values[b + i] * id));
        }
        return result.ToArray();
    }
}
