using PagedSim.Model;
using PagedSim.Model.Checkpoints;

namespace PagedSim.Runner;

/// <summary>Reads a checkpoint's shape without loading its weights, so a run can be checked before it allocates.</summary>
internal static class CheckpointConfig
{
    /// <summary>The configuration of a checkpoint (a .gguf file, or a folder with Meta's params.json or Hugging Face's
    /// config.json); problems become one line.</summary>
    public static Llama3Config Read(string path)
    {
        try
        {
            return Checkpoint.ReadConfig(path);
        }
        catch (CheckpointException e)
        {
            throw new UserError(e.Message, Cli.BadInput, e);
        }
    }
}
