using static TorchSharp.torch;

namespace PagedSim.Model.Checkpoints;

/// <summary>Dtype and shape checks shared by the loaders; each failure names the file and the tensor.</summary>
internal static class TensorChecks
{
    /// <summary>Throws unless <paramref name="t"/> is bf16, f16 or f32 with shape <paramref name="shape"/>.</summary>
    public static void Check(Tensor t, string name, string file, ReadOnlySpan<long> shape)
    {
        if (t.dtype is not (ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float32))
            throw new CheckpointException($"{file}: tensor '{name}' has dtype {t.dtype}; expected BFloat16, Float16 or Float32");
        if (!t.shape.AsSpan().SequenceEqual(shape))
            throw new CheckpointException($"{file}: tensor '{name}' has shape {MetaNames.Format(t.shape)}; expected {MetaNames.Format(shape)}");
    }
}
