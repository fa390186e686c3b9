using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using PagedSim.Model.Synthetic;

namespace PagedSim.Runner;

/// <summary>The shapes <c>--synthetic</c> weights take from <c>--model</c>: a model preset (llama3-8b, llama3-70b, …)
/// or <c>tiny</c> (dim 64, 2 layers, Llama 3's real vocabulary: the whole path on a CPU in seconds).</summary>
internal static class SyntheticModels
{
    /// <summary>The name of the tiny shape.</summary>
    public const string Tiny = "tiny";

    /// <summary>The names <c>--model</c> takes with <c>--synthetic</c>.</summary>
    public static string Known => $"{string.Join(", ", ModelSpec.Presets.Select(m => m.Name))} or {Tiny}";

    /// <summary>The configuration of shape <paramref name="name"/>; one line naming <c>--model</c> otherwise.</summary>
    public static Llama3Config Config(string name)
    {
        if (name.Equals(Tiny, StringComparison.OrdinalIgnoreCase)) return SyntheticShapes.Tiny;
        ModelSpec spec = ModelSpec.FindPreset(name)
            ?? throw new UserError($"--model: \"{name}\" is not a shape for --synthetic weights; known: {Known}");
        return FromSpec(spec);
    }

    /// <summary>A preset's shape as a model configuration (Llama 3's RMSNorm epsilon and RoPE base).</summary>
    public static Llama3Config FromSpec(ModelSpec m) =>
        new(m.Dim, m.Layers, m.Heads, m.KvHeads, m.VocabSize, m.FfnHidden, 1e-5, 500000.0, m.TiedEmbeddings);
}
