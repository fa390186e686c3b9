using static TorchSharp.torch;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// The one place that tells checkpoint formats apart: a <c>.gguf</c> file (or any file with GGUF's magic), a folder
/// with Meta's <c>params.json</c>, or a folder with Hugging Face's <c>config.json</c>.
/// </summary>
public static class Checkpoint
{
    /// <summary>True when <paramref name="path"/> is a GGUF file.</summary>
    public static bool IsGguf(string path) => File.Exists(path) && GgufFile.HasMagic(path);

    /// <summary>True when <paramref name="path"/> names something <see cref="ReadConfig"/> would try to read (a file or a folder).</summary>
    public static bool Exists(string path) => File.Exists(path) || Directory.Exists(path);

    /// <summary>Reads only the model's shape.</summary>
    /// <exception cref="CheckpointException">Missing, malformed or unsupported, as one line naming the file.</exception>
    public static Llama3Config ReadConfig(string path)
    {
        if (File.Exists(path)) return GgufCheckpoint.ReadConfig(OpenGguf(path));
        (string? meta, string? hf) = ConfigFiles(path);
        return meta is not null ? Llama3Config.FromMetaParams(meta) : Llama3Config.FromHuggingFace(hf!);
    }

    /// <summary>Reads the shape and every tensor the model needs, in Meta names and row order, on the CPU.</summary>
    /// <exception cref="CheckpointException">Missing, malformed or unsupported, as one line naming the file.</exception>
    internal static (Llama3Config Config, Dictionary<string, Tensor> Tensors) Read(string path)
    {
        if (File.Exists(path))
        {
            GgufFile gguf = OpenGguf(path);
            Llama3Config c = GgufCheckpoint.ReadConfig(gguf);
            return (c, GgufCheckpoint.Read(gguf, c));
        }
        (string? meta, string? hf) = ConfigFiles(path);
        if (meta is not null)
        {
            Llama3Config c = Llama3Config.FromMetaParams(meta);
            return (c, MetaCheckpoint.Read(path, c));
        }
        Llama3Config config = Llama3Config.FromHuggingFace(hf!);
        return (config, HfCheckpoint.Read(path, config));
    }

    private static GgufFile OpenGguf(string path)
    {
        if (!GgufFile.HasMagic(path))
            throw new CheckpointException($"{path}: not a GGUF file (give a .gguf file, or a folder with params.json or config.json)");
        return GgufFile.Open(path);
    }

    private static (string? Meta, string? Hf) ConfigFiles(string directory)
    {
        if (!Directory.Exists(directory)) throw new CheckpointException($"{directory}: model file or directory not found");
        string meta = Path.Combine(directory, "params.json"), hf = Path.Combine(directory, "config.json");
        if (File.Exists(meta)) return (meta, null);
        if (File.Exists(hf)) return (null, hf);
        throw new CheckpointException($"{directory}: neither params.json (Meta layout) nor config.json (Hugging Face layout) found");
    }
}
