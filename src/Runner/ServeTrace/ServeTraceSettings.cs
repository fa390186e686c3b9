using System.Globalization;
using PagedSim.Model.Generation;

namespace PagedSim.Runner;

/// <summary>The parsed options of <c>serve-trace</c>.</summary>
internal sealed record ServeTraceSettings(
    string? Model, bool Synthetic, string? TracePath, string Requests, string? KvBudget, int? Blocks, int BlockSize,
    int MaxRunning, int Samples, SamplingOptions Sampling, string Device, string? JsonPath, string? PlotPath, bool CompareStatic = false, string Attention = "auto",
    string Kernels = "auto", bool PrefixCaching = false)
{
    /// <summary>The model name or folder for display.</summary>
    public string ModelName => Synthetic ? $"synthetic {Model ?? "llama3-8b"} weights" : Model!;

    /// <summary>The request count, or null for all.</summary>
    public int? RequestCount => Requests.Equals("all", StringComparison.OrdinalIgnoreCase) ? null : int.Parse(Requests, CultureInfo.InvariantCulture);

    /// <summary>Throws <see cref="UserError"/> naming the first bad option; checks everything that needs no file.</summary>
    public void Validate()
    {
        if (Model is null && !Synthetic) throw new UserError("no model: give --model DIR (a checkpoint), or --synthetic for random weights of --model's shape");
        if (Synthetic) SyntheticModels.Config(Model ?? "llama3-8b");
        else if (!Directory.Exists(Model) && !File.Exists(Model)) throw new UserError($"--model: {Model} does not exist (a checkpoint folder or a .gguf file)");
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
        CommonOptions.ValidateSampling(Sampling);
        InputFile.Check("--trace", TracePath);
        OutputPath.Check("--json", JsonPath, allowStdout: true);
        OutputPath.Check("--plot", PlotPath, ".png");
    }
}
