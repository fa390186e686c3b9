using PagedSim.Model;
using PagedSim.Model.Checkpoints;

namespace PagedSim.Runner;

/// <summary>Reads a checkpoint's shape without loading its weights, so a run can be checked before it allocates.</summary>
internal static class CheckpointConfig
{
    /// <summary>The configuration of a checkpoint folder (Meta's params.json or Hugging Face's config.json, also under
    /// original/); problems become one line naming <paramref name="option"/>.</summary>
    public static Llama3Config Read(string path, string option = "--model")
    {
        foreach (string dir in new[] { path, Path.Combine(path, "original") })
        {
            string meta = Path.Combine(dir, "params.json"), hf = Path.Combine(dir, "config.json");
            try
            {
                if (File.Exists(meta)) return Llama3Config.FromMetaParams(meta);
                if (File.Exists(hf)) return Llama3Config.FromHuggingFace(hf);
            }
            catch (CheckpointException e)
            {
                throw new UserError(e.Message, Cli.BadInput, e);
            }
        }
        throw new UserError($"{option}: {path} holds neither params.json (Meta layout) nor config.json (Hugging Face layout)");
    }
}
