namespace PagedSim.Web.Planner;

/// <summary>
/// Everything the page asks for, as the user typed it (text stays text until <see cref="PlannerSetup"/> reads it, so
/// a bad value is reported naming its field). Each property maps to one URL key (<see cref="PlannerQuery"/>) and one
/// control; a new input (prefix caching, time predictions) is one more property, key and control.
/// </summary>
public sealed record PlannerInputs
{
    /// <summary>The seed's card, the default.</summary>
    public const string DefaultGpu = "rtx4090";

    /// <summary>The value of <see cref="Gpu"/> that means "use <see cref="GpuMemory"/>".</summary>
    public const string CustomGpu = "custom";

    /// <summary>The value of <see cref="Model"/> that means "use the pasted <see cref="ModelConfig"/>".</summary>
    public const string PastedModel = "pasted";

    /// <summary>A GPU preset name, or <see cref="CustomGpu"/>.</summary>
    public string Gpu { get; init; } = DefaultGpu;

    /// <summary>Any memory size ("80GB", "24GiB", bytes) when <see cref="Gpu"/> is <see cref="CustomGpu"/>.</summary>
    public string GpuMemory { get; init; } = "80GB";

    /// <summary>A model preset name, or <see cref="PastedModel"/>.</summary>
    public string Model { get; init; } = "llama3-8b";

    /// <summary>A pasted Hugging Face <c>config.json</c> or Meta <c>params.json</c>.</summary>
    public string ModelConfig { get; init; } = "";

    /// <summary>Element type of weights and KV cache.</summary>
    public string DType { get; init; } = "bf16";

    /// <summary>GPUs the model is split across.</summary>
    public string TensorParallel { get; init; } = "1";

    /// <summary>Fixed overhead per GPU (empty: the simulator's default, 1 GiB).</summary>
    public string Overhead { get; init; } = "";

    /// <summary>Where requests come from.</summary>
    public TraceChoice Trace { get; init; } = TraceChoice.ShareGpt;

    /// <summary>Replay only the first N requests (empty: all).</summary>
    public string Requests { get; init; } = "";

    /// <summary>Synthetic requests to draw.</summary>
    public string SyntheticCount { get; init; } = "1000";

    /// <summary>Seed of the synthetic draw and of the seed-compatible block choice.</summary>
    public string Seed { get; init; } = "0";

    /// <summary>Tokens per paged block.</summary>
    public string BlockSize { get; init; } = "256";

    /// <summary>"static" or "continuous".</summary>
    public string Mode { get; init; } = "static";

    /// <summary>The seed's paged setup (fixed pool, random blocks, finished requests keep a block).</summary>
    public bool SeedCompatible { get; init; }

    /// <summary>Smallest GPU memory of the sweep (empty: half the GPU's).</summary>
    public string SweepFrom { get; init; } = "";

    /// <summary>Largest GPU memory of the sweep (empty: twice the GPU's).</summary>
    public string SweepTo { get; init; } = "";

    /// <summary>Points of the sweep.</summary>
    public string SweepPoints { get; init; } = "20";
}
