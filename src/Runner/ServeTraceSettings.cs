using System.Globalization;
using PagedSim.Model.Generation;

namespace PagedSim.Runner;

/// <summary>The parsed options of <c>serve-trace</c>.</summary>
internal sealed record ServeTraceSettings(
    string? ModelDir, string? Synthetic, string? TracePath, string Requests, string? KvBudget, int? Blocks, int BlockSize,
    int MaxRunning, int Samples, SamplingOptions Sampling, string Device, string? JsonPath, string? PlotPath, bool CompareStatic = false, string Attention = "auto",
    string Kernels = "auto")
{
    /// <summary>The request count, or null for all.</summary>
    public int? RequestCount => Requests.Equals("all", StringComparison.OrdinalIgnoreCase) ? null : int.Parse(Requests, CultureInfo.InvariantCulture);

    /// <summary>Throws <see cref="UserError"/> naming the first bad option; checks everything that needs no file.</summary>
    public void Validate()
    {
        if ((ModelDir is null) == (Synthetic is null)) throw new UserError("give either --model DIR or --synthetic 8b|tiny (not both)");
        if (Synthetic is not null && Synthetic is not ("8b" or "tiny"))
            throw new UserError($"--synthetic: unknown shape \"{Synthetic}\"; known: 8b, tiny");
        if (ModelDir is not null && !Directory.Exists(ModelDir) && !File.Exists(ModelDir)) throw new UserError($"--model: {ModelDir} does not exist (a checkpoint directory or a .gguf file)");
        if (!Requests.Equals("all", StringComparison.OrdinalIgnoreCase)
            && !int.TryParse(Requests, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw new UserError($"--requests: expected a positive count or \"all\", got \"{Requests}\"");
        if (KvBudget is not null && Blocks is not null) throw new UserError("--kv-budget and --blocks: give one or the other");
        if (Blocks is <= 0) throw new UserError($"--blocks: must be positive, got {Blocks}");
        if (BlockSize <= 0 || BlockSize > ServeTraceCommand.MaxSequenceLength)
            throw new UserError($"--block-size: must be 1 to {ServeTraceCommand.MaxSequenceLength} tokens, got {BlockSize}");
        if (MaxRunning <= 0) throw new UserError($"--max-running: must be positive, got {MaxRunning}");
        if (Samples <= 0) throw new UserError($"--samples: must be positive, got {Samples}");
        if (CompareStatic && Samples > 1) throw new UserError("--compare-static: applies to continuous batching, not to --samples");
        try
        {
            Sampling.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new UserError($"--temperature/--top-p: {e.Message.Split('\n')[0].Split(" (Parameter")[0]}");
        }
        foreach (string? path in new[] { JsonPath, PlotPath })
        {
            string? dir = path is null ? null : Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null && !Directory.Exists(dir))
                throw new UserError($"{(path == JsonPath ? "--json" : "--plot")}: directory {dir} does not exist");
        }
    }
}
