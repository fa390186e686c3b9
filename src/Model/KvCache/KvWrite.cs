using static TorchSharp.torch;

namespace PagedSim.Model.KvCache;

/// <summary>Writes new keys and values into the cache slots a step names, in place.</summary>
public static class KvWrite
{
    /// <summary>
    /// Copies <paramref name="keys"/> and <paramref name="values"/> [batch, len, kvHeads, headDim] into layer
    /// <paramref name="layer"/> of <paramref name="cache"/> at <see cref="KvStep.Slots"/>: both layouts are
    /// [slots, kvHeads, headDim] when their first two dims are flattened.
    /// </summary>
    public static void Write(IKvCache cache, int layer, KvStep step, Tensor keys, Tensor values)
    {
        Tensor k = cache.Keys(layer), v = cache.Values(layer);
        long kvHeads = k.shape[2], headDim = k.shape[3];
        using Tensor kFlat = k.view(-1, kvHeads, headDim), vFlat = v.view(-1, kvHeads, headDim);
        kFlat.index_copy_(0, step.Slots, keys.reshape(-1, kvHeads, headDim));
        vFlat.index_copy_(0, step.Slots, values.reshape(-1, kvHeads, headDim));
    }
}
