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

    /// <summary>Creates the weights; memory is exactly what the real checkpoint's weights take on the device.</summary>
    public static Llama3Weights Create(Llama3Config config, Device device, ScalarType dtype, long seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("synthetic shape");
        // A private generator on the CPU (parallel callers do not disturb each other); on CUDA the device's default
        // generator, seeded here (TorchSharp's generators are CPU generators).
        using Generator? generator = device.type == TorchSharp.DeviceType.CPU ? new Generator((ulong)seed, device) : null;
        if (generator is null) TorchSharp.torch.cuda.manual_seed_all(seed);
        Tensor Matrix(long rows, long cols) =>
            empty([rows, cols], dtype, device).normal_(0, Std, generator).DetachFromDisposeScope();
        Tensor Ones(long n) => ones([n], dtype, device).DetachFromDisposeScope();

        int qkv = (config.Heads + 2 * config.KvHeads) * config.HeadDim;
        var created = new List<IDisposable>();
        try
        {
            Tensor embedding = Matrix(config.VocabSize, config.Dim);
            created.Add(embedding);
            var layers = new LayerWeights[config.Layers];
            for (int l = 0; l < config.Layers; l++)
            {
                layers[l] = new LayerWeights(Ones(config.Dim), Matrix(qkv, config.Dim), Matrix(config.Dim, config.Heads * config.HeadDim),
                    Ones(config.Dim), Matrix(2L * config.HiddenDim, config.Dim), Matrix(config.Dim, config.HiddenDim));
                created.Add(layers[l]);
            }
            Tensor norm = Ones(config.Dim);
            created.Add(norm);
            // Tied (Llama 3.2 1B/3B): the head is the embedding tensor itself, so memory is what the checkpoint takes.
            Tensor output = config.TiedEmbeddings ? embedding : Matrix(config.VocabSize, config.Dim);
            return Llama3Weights.FromFused(embedding, layers, norm, output);
        }
        catch
        {
            foreach (IDisposable d in created) d.Dispose(); // e.g. CUDA out of memory half-way: give back what was made
            throw;
        }
    }
}
