namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Device memory that PagedSim's own GPU runner holds beside weights and KV cache at its peak: a fixed part (the CUDA
/// context and libtorch's state, cuBLAS workspaces, the captured decode graphs, allocator slack) and the transients of
/// its largest prefill pass. The simulator's <see cref="OverheadModel"/> describes a serving engine in general; this
/// record describes the runner as it allocates, so its prediction can be checked against the device's own count.
/// </summary>
/// <param name="FixedBytes">Held whatever the batch.</param>
/// <param name="ActivationFactor">Bytes held per token of the largest prefill pass, as a multiple of
/// <see cref="OverheadModel.ActivationBytesPerToken"/> (the caching allocator keeps the pass's transients reserved).</param>
/// <param name="RaggedActivationFactor">The same for a ragged prefill pass (prompts of several lengths) that runs the
/// layers operation by operation (attention other than flash-attn in place, e.g. block 16's gathered copies), which
/// holds more of a layer's transients; a ragged pass in the native layer loop holds <paramref name="ActivationFactor"/>.</param>
/// <param name="Provenance">Where the figures were measured.</param>
public sealed record RuntimeOverhead(long FixedBytes, double ActivationFactor, double RaggedActivationFactor, string Provenance)
{
    /// <summary>
    /// Fitted to the runner's peaks on an NVIDIA H200 (CUDA 13, libtorch 2.11, TorchSharp 0.107; synthetic bf16 weights,
    /// 49 ShareGPT requests, paged and naive): Llama 3.2 3B held 1.12 GB and Llama 3 8B 1.32 GB beside weights and the
    /// KV it allocated; Llama 3 70B (7 requests paged, 2 naive; not fitted) held 1.55 and 0.78 GB. Ragged prefill run
    /// operation by operation: Llama 3 8B, 49 and 128 requests (largest passes near 8,192 tokens) held 1.87 and 2.00 GB
    /// beside the fixed part where 1.8 would have predicted 1.60 and 1.63 (factors 2.11 and 2.21; their mean is used);
    /// in the native layer loop the same runs and the naive one held factors 1.73, 1.96 and 1.74 (1.8 kept).
    /// </summary>
    public static RuntimeOverhead H200 { get; } = new(805_000_000, 1.8, 2.16,
        "measured on an NVIDIA H200 (fitted to Llama 3.2 3B and Llama 3 8B runs of 49 requests; ragged prefill to 8B runs of 49 and 128)");

    /// <summary>
    /// Bytes beside weights and KV for a static batch of <paramref name="requests"/> as the runner generates it: the
    /// worst pass's activations (<see cref="ActivationFactor"/>, or <see cref="RaggedActivationFactor"/> for ragged
    /// prefill passes, × the activation bytes of each of its tokens) plus, in the passes the reference attention takes
    /// (<paramref name="referencePrompts"/>: prefill passes; <paramref name="referenceDecode"/>: decode steps), that
    /// call's own tensors (<see cref="ReferenceAttentionMemory.CallBytes"/>). Prompts of one length share a prefill pass
    /// of at most <paramref name="maxPassTokens"/> tokens; decode step s runs the requests with more than s output
    /// tokens over the longest of them; with <paramref name="raggedPrefill"/> prompts of several lengths share a pass
    /// (<see cref="PrefillPlan.RaggedPasses"/>), run in the native layer loop (<paramref name="raggedInLayerLoop"/>: one
    /// flash-attn call a layer) or operation by operation (attention calls, one a length, one after another).
    /// </summary>
    public long RunBytes(ModelSpec model, int elementBytes, IReadOnlyList<TraceRequest> requests, int? blockSize,
        bool referencePrompts, bool referenceDecode, int maxPassTokens = 8192, bool raggedPrefill = false, bool raggedInLayerLoop = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(requests);
        double perToken = ActivationFactor * OverheadModel.ActivationBytesPerToken(model, elementBytes, 1);
        double perPromptToken = (raggedPrefill && !raggedInLayerLoop ? RaggedActivationFactor : ActivationFactor) * OverheadModel.ActivationBytesPerToken(model, elementBytes, 1);
        double worst = 0;
        int[] prompts = [.. requests.Select(r => r.PromptTokens)];
        IReadOnlyList<IReadOnlyList<(int Length, int[] Requests)>> passes = raggedPrefill
            ? PrefillPlan.RaggedPasses(prompts, maxPassTokens)
            : [.. PrefillPlan.Passes(prompts, maxPassTokens).Select(part => (IReadOnlyList<(int, int[])>)[part])];
        foreach (IReadOnlyList<(int Length, int[] Requests)> pass in passes)
        {
            long tokens = pass.Sum(part => (long)part.Length * part.Requests.Length);
            long attention = referencePrompts
                ? pass.Max(part => ReferenceAttentionMemory.CallBytes(model, elementBytes, part.Requests.Length, part.Length, part.Length, blockSize))
                : 0;
            worst = Math.Max(worst, perPromptToken * tokens + attention);
        }
        if (referenceDecode)
        {
            int longestOutput = requests.Count == 0 ? 0 : requests.Max(r => r.OutputTokens);
            for (int step = 1; step < longestOutput; step++)
            {
                long running = 0, keys = 0;
                foreach (TraceRequest r in requests)
                {
                    if (r.OutputTokens <= step) continue;
                    running++;
                    keys = Math.Max(keys, r.PromptTokens + (long)step);
                }
                worst = Math.Max(worst, perToken * running + ReferenceAttentionMemory.CallBytes(model, elementBytes, running, 1, keys, blockSize));
            }
        }
        return FixedBytes + (long)worst;
    }
}
