using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// Creates CPU tensors from a validated <see cref="GgufFile"/>: F32, F16 and BF16 as stored, Q8_0 dequantised to
/// float32 (each block of 32: a float16 scale times 32 signed bytes). Shapes are the ggml dimensions reversed.
/// </summary>
internal static class GgufTensorReader
{
    /// <summary>Reads the tensor <paramref name="info"/> of <paramref name="file"/>.</summary>
    public static Tensor Read(GgufFile file, GgufTensorInfo info)
    {
        using FileStream stream = File.OpenRead(file.Path);
        if (stream.Length != file.Length) throw new CheckpointException($"{file.Path}: the file changed size while it was being read");
        stream.Position = info.Start;
        long[] shape = info.TorchShape;
        if (info.Type == GgufTensorType.Q8_0) return ReadQ8(stream, info, shape);
        ScalarType dtype = info.Type switch
        {
            GgufTensorType.F32 => ScalarType.Float32,
            GgufTensorType.F16 => ScalarType.Float16,
            GgufTensorType.BF16 => ScalarType.BFloat16,
            _ => throw new CheckpointException($"{file.Path}: tensor '{info.Name}' has unsupported type {info.Type}"),
        };
        Tensor t = empty(shape, dtype);
        try
        {
            t.ReadBytesFromStream(stream, (int)Math.Clamp(info.ByteLength, 1, 1 << 24)); // the buffer, not more than the tensor
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    private static Tensor ReadQ8(Stream stream, GgufTensorInfo info, long[] shape)
    {
        const int BlocksPerChunk = 1 << 15;
        long blocks = info.ByteLength / GgufTensorTypes.Q8BlockBytes;
        Tensor t = empty(shape, ScalarType.Float32);
        try
        {
            using Tensor flat = t.view(-1);
            byte[] raw = new byte[BlocksPerChunk * GgufTensorTypes.Q8BlockBytes];
            float[] values = new float[BlocksPerChunk * GgufTensorTypes.Q8BlockElements];
            for (long b = 0; b < blocks; b += BlocksPerChunk)
            {
                int n = (int)Math.Min(BlocksPerChunk, blocks - b);
                stream.ReadExactly(raw, 0, n * GgufTensorTypes.Q8BlockBytes);
                Dequantize(raw.AsSpan(0, n * GgufTensorTypes.Q8BlockBytes), values);
                int count = n * GgufTensorTypes.Q8BlockElements;
                using Tensor chunk = tensor(values.AsSpan(0, count).ToArray());
                using Tensor dst = flat.narrow(0, b * GgufTensorTypes.Q8BlockElements, count);
                dst.copy_(chunk);
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Q8_0 blocks → float32: each block is a little-endian float16 scale d and 32 int8 q; x = d·q.</summary>
    internal static void Dequantize(ReadOnlySpan<byte> blocks, Span<float> values)
    {
        for (int b = 0, o = 0; b < blocks.Length; b += GgufTensorTypes.Q8BlockBytes)
        {
            float d = (float)BitConverter.ToHalf(blocks.Slice(b, 2));
            for (int i = 0; i < GgufTensorTypes.Q8BlockElements; i++) values[o++] = d * (sbyte)blocks[b + 2 + i];
        }
    }
}
