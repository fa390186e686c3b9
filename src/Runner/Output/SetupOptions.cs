using System.CommandLine;
using PagedSim.Allocator.ModelConfig;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Runner.Output;

/// <summary>The options that describe a setup (GPU, model, dtype, tensor parallelism, overhead), shared by the root
/// command and <c>simulate</c>, and their resolution into a <see cref="MemoryModel"/>.</summary>
internal sealed class SetupOptions(string? modelDescription = null)
{
    public Option<string?> Gpu { get; } = new("--gpu") { Description = $"GPU preset: {string.Join(", ", GpuSpec.Presets.Select(g => g.Name))} (default rtx4090)" };
    public Option<string?> GpuMem { get; } = new("--gpu-mem") { Description = "GPU memory of any size: 24GiB, 80GB, 81559MiB or bytes (with --gpu: that chip with this memory; alone: no time prediction)" };
    public Option<string?> Model { get; } = new("--model")
    {
        Description = (modelDescription ?? "Model: a preset, or a Meta params.json or Hugging Face config.json (or a folder holding one)")
            + $"; presets: {string.Join(", ", ModelSpec.Presets.Select(m => m.Name))}; default llama3-8b",
    };
    public Option<string> DType { get; } = new("--dtype") { Description = "Element type of weights and KV cache: bf16, fp16, fp32, fp8", DefaultValueFactory = _ => "bf16" };
    public Option<int> Tp { get; } = new("--tp") { Description = "Tensor parallelism: weights and KV heads split across this many GPUs of the given size", DefaultValueFactory = _ => 1 };
    public Option<string?> Overhead { get; } = new("--overhead") { Description = "Fixed overhead per GPU (CUDA context, workspaces); default 1GiB" };

    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { Gpu, GpuMem, Model, DType, Tp, Overhead }) command.Options.Add(o);
    }

    /// <summary>The setup the options describe; <paramref name="modelSpec"/> replaces --model's resolution (a checkpoint
    /// the runner already read) and <paramref name="deviceGpu"/> is the GPU when neither --gpu nor --gpu-mem is given.</summary>
    public MemoryModel Resolve(ParseResult parse, ModelSpec? modelSpec = null, GpuSpec? deviceGpu = null)
    {
        string? gpuName = parse.GetValue(Gpu), gpuMem = parse.GetValue(GpuMem);
        GpuSpec? preset = gpuName is null ? null : GpuSpec.FindPreset(gpuName)
            ?? throw new UserError($"--gpu: unknown GPU \"{gpuName}\"; known: {string.Join(", ", GpuSpec.Presets.Select(g => g.Name))} (or give --gpu-mem SIZE)");
        GpuSpec gpu = gpuMem is not null ? WithMemory(preset, ParseSize("--gpu-mem", gpuMem), gpuMem)
            : preset ?? deviceGpu ?? GpuSpec.Rtx4090;
        ModelSpec model = modelSpec ?? ResolveModel(parse.GetValue(Model) ?? "llama3-8b");
        string dtype = parse.GetValue(DType)!;
        if (!MemoryModel.DTypes.ContainsKey(dtype))
            throw new UserError($"--dtype: unknown type \"{dtype}\"; known: {string.Join(", ", MemoryModel.DTypes.Keys)}");
        int tp = parse.GetValue(Tp);
        try
        {
            model.ValidateTensorParallel(tp);
        }
        catch (ArgumentException e)
        {
            throw new UserError($"--tp: {e.Message.Split(" (Parameter")[0].Replace($"--tp {tp} ", $"{tp} ")}");
        }
        string? overhead = parse.GetValue(Overhead);
        var overheadModel = overhead is null ? OverheadModel.Default : new OverheadModel(ParseSize("--overhead", overhead));
        return new MemoryModel(model, gpu, dtype.ToLowerInvariant(), tp, overheadModel);
    }

    /// <summary>A GPU of <paramref name="bytes"/>: <paramref name="chip"/>'s chip (its time figures) with that much
    /// memory, or a size alone (no time figures) when no chip is named.</summary>
    public static GpuSpec WithMemory(GpuSpec? chip, long bytes, string label) => chip is null
        ? GpuSpec.OfSize(bytes, label)
        : chip with { Name = $"{chip.Name} with {label}", TotalMemoryBytes = bytes, Note = $"{chip.Name}'s chip, memory given on the command line" };

    public static long ParseSize(string option, string text)
    {
        try
        {
            return ByteSize.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UserError($"{option}: {e.Message}");
        }
    }

    private static ModelSpec ResolveModel(string value)
    {
        if (ModelSpec.FindPreset(value) is ModelSpec preset) return preset;
        string path = LlamaConfigReader.Find(value)
            ?? throw new UserError(Directory.Exists(value)
                ? $"--model: folder {value} holds no params.json or config.json (looked in it and in original/)"
                : $"--model: \"{value}\" is neither a known model ({string.Join(", ", ModelSpec.Presets.Select(m => m.Name))}) nor a params.json / config.json file or folder");
        try
        {
            // Named after the checkpoint's folder (original/ stands for the folder above it).
            string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
            if (Path.GetFileName(dir) == "original") dir = Path.GetDirectoryName(dir)!;
            return ModelSpec.FromArchitecture(LlamaConfigReader.ReadFile(path), Path.GetFileName(dir) is { Length: > 0 } name ? name : path);
        }
        catch (FormatException e)
        {
            throw new UserError(e.Message);
        }
    }
}
