using PagedSim.Model.Parallel;
using static TorchSharp.torch;

namespace PagedSim.Model.Synthetic;

/// <summary>
/// Seeded random weights of a given shape, created in place on the target device and dtype (no download, no host
/// copy): matrices ~ N(0, 0.02²) as in Llama's initialisation, norms 1. Already fused (wq; wk; wv and w1; w3 drawn as
/// one matrix each, which has the same distribution as stacking independent draws). Same seed, device and shape give
/// the same weights; CPU and CUDA draws differ (on CUDA the device's default generator is reseeded).
/// </summary>
public static class SyntheticWeights
{
    /// <summary>Standard deviation of every matrix.</summary>
    public const double Std = 0.02;

    /// <summary>
    /// Creates the weights; memory is exactly what the real checkpoint's weights take on the device. With
    /// <paramref name="plan"/>, rank <paramref name="rank"/>'s shard of the same weights (the same seed gives the
    /// same model at every tensor-parallel degree): each matrix is drawn whole, in the same order, and cut at once,
    /// so the device holds the shard plus one whole matrix at a time.
    /// </summary>
    public static Llama3Weights Create(Llama3Config config, Device device, ScalarType dtype, long seed, ShardingPlan? plan = null, int rank = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("synthetic shape");
        // A private generator on the CPU (parallel callers do not disturb each other); on CUDA the device's default
        // generator, seeded here (TorchSharp's generators are CPU generators).
        using Generator? generator = device.type == TorchSharp.DeviceType.CPU ? new Generator((ulong)seed, device) : null;
        if (generator is null) TorchSharp.torch.cuda.manual_seed_all(seed);
        Tensor Matrix(long rows, long cols) =>
            empty([rows, cols], dtype, device).normal_(0, Std, generator).DetachFromDisposeScope();
        Tensor Cut(Tensor full, Func<Tensor, int, Tensor> slice)
        {
            if (plan is null) return full;
            using (full)
                return slice(full, rank).DetachFromDisposeScope();
        }
        Tensor Ones(long n) => ones([n], dtype, device).DetachFromDisposeScope();

        int qkv = (config.Heads + 2 * config.KvHeads) * config.HeadDim;
        var created = new List<IDisposable>();
        try
        {
            if (plan is not null && plan.Config != config) throw new ArgumentException("The plan is for another shape.", nameof(plan));
            Tensor embedding = Cut(Matrix(config.VocabSize, config.Dim), (t, r) => plan!.VocabRows(t, r));
            created.Add(embedding);
            var layers = new LayerWeights[config.Layers];
            for (int l = 0; l < config.Layers; l++)
            {
                layers[l] = new LayerWeights(Ones(config.Dim),
                    Cut(Matrix(qkv, config.Dim), (t, r) => plan!.Qkv(t, r)),
                    Cut(Matrix(config.Dim, config.Heads * config.HeadDim), (t, r) => plan!.InputColumns(t, r)),
                    Ones(config.Dim),
                    Cut(Matrix(2L * config.HiddenDim, config.Dim), (t, r) => plan!.GateUp(t, r)),
                    Cut(Matrix(config.Dim, config.HiddenDim), (t, r) => plan!.InputColumns(t, r)));
                created.Add(layers[l]);
            }
            Tensor norm = Ones(config.Dim);
            created.Add(norm);
            // Tied (Llama 3.2 1B/3B): the head is the embedding tensor itself, so memory is what the checkpoint takes.
            Tensor output = config.TiedEmbeddings ? embedding
                : Cut(Matrix(config.VocabSize, config.Dim), (t, r) => plan!.VocabRows(t, r));
            return Llama3Weights.FromFused(embedding, layers, norm, output);
        }
        catch
        {
            foreach (IDisposable d in created) d.Dispose(); // e.g. CUDA out of memory half-way: give back what was made
            throw;
        }
    }
}
