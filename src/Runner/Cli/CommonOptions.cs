using System.CommandLine;

namespace PagedSim.Runner;

/// <summary>
/// The options several commands take, defined once so that each means one thing everywhere: <c>--device</c>,
/// <c>--block-size</c>, <c>--json FILE</c> (<c>-</c> for stdout), <c>--plot FILE.png</c>, <c>--synthetic</c> (seeded
/// random weights of <c>--model</c>'s shape), <c>--seed</c>, <c>--attention</c>, <c>--kernels</c>, sampling.
/// </summary>
internal static class CommonOptions
{
    /// <summary>Tokens per KV block unless a command says otherwise: flash-attn's paged kernel needs multiples of 256.</summary>
    public const int DefaultBlockSize = 256;

    public static Option<string> Device(string autoMeans = "CUDA when available, else the CPU")
    {
        var option = new Option<string>("--device") { Description = $"auto ({autoMeans}), cuda or cpu", DefaultValueFactory = _ => "auto" };
        option.AcceptOnlyFromAmong("auto", "cuda", "cpu");
        return option;
    }

    public static Option<int> BlockSize() =>
        new("--block-size") { Description = "Tokens per KV block (flash-attn's paged kernel needs a multiple of 256)", DefaultValueFactory = _ => DefaultBlockSize };

    public static Option<string?> Json() =>
        new("--json") { Description = "Write the results as JSON (snake_case keys) to FILE, or to stdout with -", HelpName = "FILE" };

    public static Option<string?> Plot(string what) =>
        new("--plot") { Description = $"Write a PNG of {what} to FILE.png", HelpName = "FILE.png" };

    public static Option<bool> Synthetic() =>
        new("--synthetic") { Description = "Seeded random weights of --model's shape (a preset such as llama3-8b, or tiny) instead of a checkpoint" };

    public static Option<int> Seed(string what) =>
        new("--seed") { Description = $"Seed of {what}", DefaultValueFactory = _ => 0 };

    public static Option<string> Attention()
    {
        var option = new Option<string>("--attention") { Description = "auto (on CUDA with the native library: flash-attn for block sizes that are multiples of 256, else the paged decode kernel; else reference), flash, paged or reference", DefaultValueFactory = _ => "auto" };
        option.AcceptOnlyFromAmong(AttentionChoice.Values);
        return option;
    }

    public static Option<string> Kernels()
    {
        var option = new Option<string>("--kernels") { Description = "auto (fused native kernels and CUDA graphs on CUDA when the library has them, else eager), fused, fused-no-graphs or eager: the operations between matmuls", DefaultValueFactory = _ => "auto" };
        option.AcceptOnlyFromAmong(KernelsChoice.Values);
        return option;
    }

    public static Option<double> Temperature() =>
        new("--temperature") { Description = "0 for greedy decoding; above 0 samples", DefaultValueFactory = _ => 0.0 };

    /// <summary>Checks temperature and top-p, naming the option that is off.</summary>
    public static void ValidateSampling(PagedSim.Model.Generation.SamplingOptions sampling)
    {
        if (double.IsNaN(sampling.Temperature) || sampling.Temperature < 0)
            throw new UserError($"--temperature: must be 0 (greedy) or positive, got {sampling.Temperature}");
        if (!(sampling.TopP > 0 && sampling.TopP <= 1))
            throw new UserError($"--top-p: must be in (0, 1], got {sampling.TopP}");
    }

    public static Option<double> TopP() =>
        new("--top-p") { Description = "Nucleus sampling threshold in (0, 1] (with --temperature)", DefaultValueFactory = _ => 1.0 };
}
