namespace PagedSim.Model.Synthetic;

/// <summary>Model shapes for synthetic weights.</summary>
public static class SyntheticShapes
{
    /// <summary>Llama 3 8B: dim 4096, 32 layers, 32 query and 8 KV heads of 128, vocab 128,256, SwiGLU 14,336.</summary>
    public static Llama3Config Llama3_8B { get; } = new(4096, 32, 32, 8, 128256, 14336, 1e-5, 500000.0);

    /// <summary>
    /// A tiny shape with Llama 3's real vocabulary (so the real tokenizer's ids fit): dim 64, 2 layers, 4 query and 2
    /// KV heads of 16, SwiGLU 128. Runs the whole path on a CPU in seconds.
    /// </summary>
    public static Llama3Config Tiny { get; } = new(64, 2, 4, 2, 128256, 128, 1e-5, 500000.0);
}
