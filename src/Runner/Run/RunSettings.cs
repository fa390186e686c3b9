namespace PagedSim.Runner;

/// <summary>The parsed options of the root command's run (<c>PagedSim N ...</c>).</summary>
/// <param name="Count">Requests to batch: the first N of the ShareGPT file.</param>
/// <param name="ShareGpt">ShareGPT file, or null for fixtures/sharegpt-filtered.json.</param>
/// <param name="Naive">Contiguous max-length cache instead of the paged one.</param>
/// <param name="Synthetic">Seeded random weights; each request stops at its trace output length.</param>
/// <param name="SyntheticShape">"preset" (the --model preset's shape) or "tiny" (<see cref="PagedSim.Model.Synthetic.SyntheticShapes.Tiny"/>).</param>
/// <param name="Seed">Seed of the synthetic weights.</param>
/// <param name="Device">"auto" (CUDA when available, else no run), "cuda" or "cpu".</param>
/// <param name="MaxNewTokens">Cap on new tokens per request, or null (up to 8192 tokens in all).</param>
/// <param name="BlockSize">Tokens per KV block (paged).</param>
/// <param name="Attention">"auto" (flash when its library loads, else reference), "flash" or "reference".</param>
/// <param name="JsonPath">Where to write the JSON summary, or null.</param>
/// <param name="FindMaxBatch">Search the largest batch that runs instead of one run.</param>
/// <param name="ModelDir">Checkpoint directory given with --model, or null.</param>
/// <param name="PrintResponses">Print every response (off with --no-responses).</param>
/// <param name="Kernels">"auto" (fused native kernels on CUDA when the library has them, else eager), "fused" or "eager".</param>
/// <param name="Prefill">"by-length" (one pass a prompt length) or "ragged" (prompts of every length share passes).</param>
internal sealed record RunSettings(
    int Count, string? ShareGpt, bool Naive, bool Synthetic, string SyntheticShape, int Seed, string Device,
    int? MaxNewTokens, int BlockSize, string Attention, string? JsonPath, bool FindMaxBatch, string? ModelDir,
    bool PrintResponses, string Kernels = "auto", string Prefill = "by-length")
{
    /// <summary>The values --prefill accepts.</summary>
    public static readonly string[] PrefillValues = ["by-length", "ragged"];

    /// <summary>Whether prompts of several lengths share prefill passes.</summary>
    public bool RaggedPrefill => Prefill == "ragged";

    /// <summary>Longest sequence (prompt + output), as the seed's max_seq_len.</summary>
    public const int MaxSequenceLength = 8192;

    /// <summary>"paged" or "naive".</summary>
    public string Cache => Naive ? "naive" : "paged";
}
