using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Web.Planner;

/// <summary>
/// Turns the page's inputs into a <see cref="PlannerPlan"/> the way <c>simulate</c> turns its options into a run (same
/// defaults, same checks, same order), so the same inputs give the same numbers. Problems throw
/// <see cref="PlannerInputException"/> with one line naming the field.
/// </summary>
public static class PlannerSetup
{
    /// <summary>Resolves <paramref name="inputs"/>; <paramref name="upload"/> is the uploaded trace, if any.</summary>
    public static PlannerPlan Resolve(PlannerInputs inputs, UploadedTrace? upload)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        GpuSpec gpu = inputs.Gpu == PlannerInputs.CustomGpu
            ? GpuSpec.OfSize(Size("GPU memory", inputs.GpuMemory), inputs.GpuMemory.Trim())
            : GpuSpec.FindPreset(inputs.Gpu)
              ?? throw new PlannerInputException($"GPU: unknown GPU \"{inputs.Gpu}\"; known: {string.Join(", ", GpuSpec.Presets.Select(g => g.Name))} (or give a memory size)");
        ModelSpec model = ResolveModel(inputs);
        string dtype = inputs.DType.Trim().ToLowerInvariant();
        if (!MemoryModel.DTypes.ContainsKey(dtype))
            throw new PlannerInputException($"dtype: unknown type \"{inputs.DType}\"; known: {string.Join(", ", MemoryModel.DTypes.Keys)}");
        int tp = Integer("tensor parallelism", inputs.TensorParallel);
        try
        {
            model.ValidateTensorParallel(tp);
        }
        catch (ArgumentException e)
        {
            throw new PlannerInputException($"tensor parallelism: {OneLine(e)}");
        }
        var overhead = string.IsNullOrWhiteSpace(inputs.Overhead) ? OverheadModel.Default : new OverheadModel(Size("overhead", inputs.Overhead));
        var memory = new MemoryModel(model, gpu, dtype, tp, overhead);

        int seed = Integer("seed", inputs.Seed, allowZero: true, allowNegative: true);
        Trace trace = LoadTrace(inputs, upload, model.MaxSequenceLength);
        if (inputs.Trace == TraceChoice.Synthetic)
        {
            int count = Integer("synthetic requests", inputs.SyntheticCount);
            trace = SyntheticTrace.Draw(trace, count, seed);
        }
        IReadOnlyList<TraceRequest> requests = trace.Requests;
        if (!string.IsNullOrWhiteSpace(inputs.Requests))
        {
            int n = Integer("requests", inputs.Requests);
            if (n > trace.Requests.Count)
                throw new PlannerInputException($"requests: the trace {trace.Source} has {trace.Requests.Count} request(s); ask for 1 to {trace.Requests.Count}");
            requests = trace.Requests.Take(n).ToArray();
        }
        SimulationMode mode = inputs.Mode.Trim().ToLowerInvariant() switch
        {
            "static" => SimulationMode.Static,
            "continuous" => SimulationMode.Continuous,
            _ => throw new PlannerInputException($"mode: unknown mode \"{inputs.Mode}\"; known: static, continuous"),
        };
        var config = new SimulationConfig(memory, Integer("block size", inputs.BlockSize), mode, inputs.SeedCompatible, SchedulerOptions.Default, seed);
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            string field = e.ParamName switch { "BlockSize" => "block size: ", "tp" => "tensor parallelism: ", _ => "" };
            throw new PlannerInputException(field + OneLine(e));
        }
        if (config.Mode == SimulationMode.Static && !config.SeedCompatible && requests.Count > 0)
        {
            // Static runs hold every request at once: refuse pools too large to simulate before any work starts.
            (long tokens, long sequences) = Simulator.StepShape(config, requests);
            if (memory.PagedBlocks(config.BlockSize, tokens, sequences) > Simulator.MaxBlocks)
                throw new PlannerInputException($"block size: a pool of over {Simulator.MaxBlocks:N0} blocks is too large to simulate; use a larger block size");
        }
        return new PlannerPlan(config, trace, requests, SweepSizes(inputs, gpu.TotalMemoryBytes));
    }

    private static ModelSpec ResolveModel(PlannerInputs inputs)
    {
        if (inputs.Model != PlannerInputs.PastedModel)
            return ModelSpec.FindPreset(inputs.Model)
                ?? throw new PlannerInputException($"model: unknown model \"{inputs.Model}\"; known: {string.Join(", ", ModelSpec.Presets.Select(m => m.Name))} (or paste a config)");
        if (string.IsNullOrWhiteSpace(inputs.ModelConfig))
            throw new PlannerInputException("model config: paste a Hugging Face config.json or a Meta params.json");
        try
        {
            return ModelConfigFile.Parse(inputs.ModelConfig, "pasted config");
        }
        catch (FormatException e)
        {
            throw new PlannerInputException($"model config: {e.Message}");
        }
    }

    private static Trace LoadTrace(PlannerInputs inputs, UploadedTrace? upload, int maxSequenceLength)
    {
        try
        {
            if (inputs.Trace != TraceChoice.Upload)
            {
                BuiltInTrace.ShareGpt.Validate(maxSequenceLength, BuiltInTrace.FileName);
                return BuiltInTrace.ShareGpt;
            }
            if (upload is null) throw new PlannerInputException("trace file: choose a pagedsim-trace/1 file to upload");
            using var stream = new MemoryStream(upload.Content, writable: false);
            return TraceFile.Parse(stream, upload.Name, maxSequenceLength);
        }
        catch (TraceFormatException e)
        {
            throw new PlannerInputException($"trace file {e.Message}");
        }
    }

    private static IReadOnlyList<long> SweepSizes(PlannerInputs inputs, long gpuBytes)
    {
        long from = string.IsNullOrWhiteSpace(inputs.SweepFrom) ? Math.Max(1, gpuBytes / 2) : Size("sweep from", inputs.SweepFrom);
        long to = string.IsNullOrWhiteSpace(inputs.SweepTo) ? gpuBytes * 2 : Size("sweep to", inputs.SweepTo);
        if (to <= from) throw new PlannerInputException($"sweep: \"to\" ({ByteSize.Gb(to)}) must be larger than \"from\" ({ByteSize.Gb(from)})");
        int points = Integer("sweep points", inputs.SweepPoints);
        if (points < 2 || points > MemorySweep.MaxPoints)
            throw new PlannerInputException($"sweep points: give 2 to {MemorySweep.MaxPoints}, got {points}");
        return MemorySweep.Sizes(from, to, points);
    }

    private static long Size(string field, string text)
    {
        try
        {
            long bytes = ByteSize.Parse(text);
            // Beyond a petabyte the simulator's pool arithmetic and any real card part ways: call it absurd.
            if (bytes > 1_000_000_000_000_000L) throw new FormatException($"\"{text}\" is more than a petabyte");
            return bytes;
        }
        catch (FormatException e)
        {
            throw new PlannerInputException($"{field}: {e.Message}");
        }
    }

    private static int Integer(string field, string text, bool allowZero = false, bool allowNegative = false)
    {
        if (!int.TryParse(text.Trim(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int value))
            throw new PlannerInputException($"{field}: \"{text}\" is not a whole number");
        if (value < 0 && !allowNegative || value == 0 && !allowZero)
            throw new PlannerInputException($"{field}: must be positive, got {value}");
        return value;
    }

    private static string OneLine(Exception e) => e.Message.Split(" (Parameter")[0].Split('\n')[0].Trim();
}
