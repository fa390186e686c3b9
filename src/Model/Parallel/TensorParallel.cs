using PagedSim.Model.Attention;
using PagedSim.Model.Kernels;
using PagedSim.Model.Synthetic;
using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// Builds a tensor-parallel model: each rank's shard on its device, a <see cref="TensorParallelGroup"/> over them,
/// and rank 0's <see cref="Llama3"/> returned as the group's face (use it like any model; disposing it disposes the group).
/// </summary>
public static class TensorParallel
{
    /// <summary>
    /// Loads a checkpoint directory split over <paramref name="devices"/> (rank r on devices[r]).
    /// <paramref name="kernels"/> gives each rank's layer kernels (default eager: see docs/tensor-parallel.md).
    /// </summary>
    /// <exception cref="Checkpoints.CheckpointException">A bad checkpoint, or a model that does not split into that many ranks.</exception>
    public static Llama3 Load(string directory, IReadOnlyList<Device> devices, ScalarType dtype, ICollective collective, int maxPositions = 8192,
        Func<Device, ILayerKernels>? kernels = null, Func<Device, IAttentionBackend>? attentionFor = null)
    {
        (Llama3Config config, Llama3Weights[] shards) = Llama3Weights.LoadShards(directory, devices, dtype);
        return Assemble(config, shards, devices, dtype, collective, maxPositions, kernels, attentionFor);
    }

    /// <summary>Seeded synthetic weights (<see cref="SyntheticWeights"/>) of <paramref name="config"/>, split over <paramref name="devices"/>.</summary>
    /// <exception cref="ArgumentException">The shape does not split into that many ranks.</exception>
    public static Llama3 Synthetic(Llama3Config config, long seed, IReadOnlyList<Device> devices, ScalarType dtype, ICollective collective,
        int maxPositions = 8192, Func<Device, ILayerKernels>? kernels = null, Func<Device, IAttentionBackend>? attentionFor = null)
    {
        var plan = ShardingPlan.Create(config, devices.Count);
        var shards = new List<Llama3Weights>();
        try
        {
            // One rank after another: on CUDA each draw reseeds every device's generator.
            for (int r = 0; r < devices.Count; r++) shards.Add(SyntheticWeights.Create(config, devices[r], dtype, seed, plan, r));
        }
        catch
        {
            foreach (Llama3Weights w in shards) w.Dispose();
            throw;
        }
        return Assemble(config, [.. shards], devices, dtype, collective, maxPositions, kernels, attentionFor);
    }

    private static Llama3 Assemble(Llama3Config config, Llama3Weights[] shards, IReadOnlyList<Device> devices, ScalarType dtype,
        ICollective collective, int maxPositions, Func<Device, ILayerKernels>? kernels, Func<Device, IAttentionBackend>? attentionFor)
    {
        var plan = ShardingPlan.Create(config, devices.Count);
        var group = new TensorParallelGroup(plan, devices, dtype, collective, attentionFor);
        var models = new Llama3[devices.Count];
        for (int r = 0; r < devices.Count; r++)
            models[r] = new Llama3(plan.Local, shards[r], devices[r], dtype, maxPositions, kernels?.Invoke(devices[r]) ?? EagerKernels.Instance,
                new ParallelRank(group, r));
        group.Attach(models);
        return models[0];
    }
}
