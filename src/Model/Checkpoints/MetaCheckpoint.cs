using System.Collections;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// Meta's original layout: <c>params.json</c> + <c>consolidated.00.pth</c> … <c>consolidated.NN.pth</c>. Several shards
/// are model-parallel slices of one model (70B has 8); each tensor is concatenated back along the dimension Meta split
/// it (see <see cref="MetaNames.SplitDim"/>).
/// </summary>
internal static class MetaCheckpoint
{
    /// <summary>The shard files of <paramref name="directory"/>, in order; throws if none or numbering has gaps.</summary>
    public static string[] ShardFiles(string directory)
    {
        string[] files = Directory.GetFiles(directory, "consolidated.*.pth").Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new CheckpointException($"{directory}: no consolidated.NN.pth files next to params.json");
        for (int i = 0; i < files.Length; i++)
        {
            string expected = Path.Combine(directory, $"consolidated.{i:00}.pth");
            if (files[i] != expected) throw new CheckpointException($"{expected}: shard missing ({files.Length} shard files found)");
        }
        return files;
    }

    /// <summary>Reads every tensor the model needs, in Meta names, unsharded, in the files' dtype, on the CPU.</summary>
    public static Dictionary<string, Tensor> Read(string directory, Llama3Config config)
    {
        string[] files = ShardFiles(directory);
        var shards = new Hashtable[files.Length];
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            for (int s = 0; s < files.Length; s++) shards[s] = Unpickle(files[s]);
            int n = files.Length;
            foreach ((string name, long[] shape) in MetaNames.Expected(config))
            {
                int split = MetaNames.SplitDim(name);
                long[] shardShape = (long[])shape.Clone();
                if (split >= 0)
                {
                    if (shape[split] % n != 0)
                        throw new CheckpointException($"{directory}: tensor '{name}' {MetaNames.Format(shape)} cannot be split into {n} shards along dim {split}");
                    shardShape[split] /= n;
                }
                var parts = new Tensor[n];
                for (int s = 0; s < n; s++)
                {
                    if (shards[s][name] is not Tensor t)
                        throw new CheckpointException($"{files[s]}: missing tensor '{name}'");
                    TensorChecks.Check(t, name, files[s], shardShape);
                    parts[s] = t;
                }
                if (split < 0 || n == 1)
                {
                    result[name] = parts[0];
                    shards[0].Remove(name); // now owned by the result
                }
                else
                {
                    result[name] = cat(parts, split);
                }
            }
            return result;
        }
        catch
        {
            foreach (Tensor t in result.Values) t.Dispose();
            throw;
        }
        finally
        {
            foreach (Hashtable? h in shards)
                if (h is not null)
                    foreach (object? v in h.Values) (v as Tensor)?.Dispose();
        }
    }

    private static string FirstLine(string message)
    {
        string line = message.Split('\n')[0].Trim();
        return line.Length > 200 ? line[..200] + "…" : line;
    }

    private static Hashtable Unpickle(string file)
    {
        PthArchive.Validate(file);
        try
        {
            return PyTorchUnpickler.UnpickleStateDict(file);
        }
        catch (Exception e) when (e is not CheckpointException)
        {
            string why = e is EndOfStreamException or InvalidDataException ? "truncated or corrupt" : "unreadable";
            throw new CheckpointException($"{file}: {why} PyTorch checkpoint ({e.GetType().Name}: {FirstLine(e.Message)})", e);
        }
    }
}
