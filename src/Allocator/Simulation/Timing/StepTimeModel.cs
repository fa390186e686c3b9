namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Seconds of a forward pass on one GPU: max(bytes read ÷ effective bandwidth + sequences × per-sequence cost,
/// FLOPs ÷ effective matrix rate) + a fixed per-pass cost + (tensor parallel) two ring all-reduces per layer.
/// Bytes and FLOPs are counted from the model's shape (per GPU under tensor parallelism) and the pass's tokens.
/// </summary>
/// <remarks>
/// Bytes: every weight but the input embedding (a lookup), the keys and values attention reads, those the pass
/// writes. FLOPs: 2 per weight per computed token for the layers, 2 per output-head weight per sequence (only each
/// sequence's last position gets logits), 4 × query width per attended key per layer (QKᵀ and PV).
/// </remarks>
public sealed class StepTimeModel
{
    private readonly double _weightBytes, _kvBytesPerToken, _layerFlopsPerToken, _headFlopsPerSequence, _attentionFlopsPerKey;
    private readonly double _allReduceBytesPerToken, _allReduceFactor, _allReduceLatency;

    /// <summary>The model for <paramref name="memory"/>'s model, dtype and tensor parallelism with <paramref name="parameters"/>.</summary>
    public StepTimeModel(MemoryModel memory, StepTimeParameters parameters)
    {
        ArgumentNullException.ThrowIfNull(memory);
        Parameters = parameters ?? throw new ArgumentNullException(nameof(parameters));
        ModelSpec m = memory.Model;
        int tp = memory.TensorParallel, bytes = memory.ElementBytes;
        long embeddingShard = (long)m.VocabSize * m.Dim / tp;
        long headShard = embeddingShard; // tied or not, the output head is vocab × dim (split across GPUs)
        long shardParameters = m.ParametersPerShard(tp);
        long readParameters = m.TiedEmbeddings ? shardParameters : shardParameters - embeddingShard;
        long layerParameters = shardParameters - (m.TiedEmbeddings ? 1 : 2) * embeddingShard - m.Dim;
        _weightBytes = (double)readParameters * bytes;
        _kvBytesPerToken = memory.Layout.BytesPerToken;
        _layerFlopsPerToken = 2.0 * layerParameters;
        _headFlopsPerSequence = 2.0 * headShard;
        _attentionFlopsPerKey = 4.0 * m.Layers * (m.Heads / tp) * m.HeadDim;
        // Megatron-style: after attention's output projection and after the MLP, each layer all-reduces the
        // activations of every computed token (dim wide). A ring moves 2(n−1)/n of them over each GPU's link in
        // 2(n−1) hops.
        _allReduceBytesPerToken = tp > 1 ? 2.0 * m.Layers * m.Dim * bytes : 0;
        _allReduceFactor = tp > 1 ? 2.0 * (tp - 1) / tp / parameters.InterconnectBandwidth : 0;
        _allReduceLatency = tp > 1 ? 2.0 * m.Layers * 2 * (tp - 1) * parameters.AllReduceHopSeconds : 0;
        TensorParallel = tp;
    }

    /// <summary>The effective figures in use.</summary>
    public StepTimeParameters Parameters { get; }

    /// <summary>GPUs the model is split across.</summary>
    public int TensorParallel { get; }

    /// <summary>The model for a simulation's setup, or null when its GPU has no performance figures.</summary>
    public static StepTimeModel? For(MemoryModel memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        return StepTimeParameters.For(memory.Gpu) is StepTimeParameters p ? new StepTimeModel(memory, p) : null;
    }

    /// <summary>Bytes the pass moves through device memory.</summary>
    public double Bytes(in ForwardPass pass) => _weightBytes + _kvBytesPerToken * (pass.KeysRead + pass.Tokens);

    /// <summary>FLOPs of the pass on one GPU.</summary>
    public double Flops(in ForwardPass pass) =>
        _layerFlopsPerToken * pass.Tokens + _headFlopsPerSequence * pass.Sequences + _attentionFlopsPerKey * pass.KeysAttended;

    /// <summary>Seconds of the tensor-parallel all-reduces of a pass computing <paramref name="tokens"/> tokens (0 at tp 1).</summary>
    public double AllReduceSeconds(long tokens) =>
        tokens == 0 || TensorParallel == 1 ? 0 : _allReduceLatency + _allReduceFactor * _allReduceBytesPerToken * tokens;

    /// <summary>Seconds of one forward pass.</summary>
    public double Seconds(in ForwardPass pass)
    {
        StepTimeParameters p = Parameters;
        double memory = Bytes(pass) / p.Bandwidth + pass.Sequences * p.SequenceSeconds;
        double compute = Flops(pass) / p.MatrixFlops;
        return Math.Max(memory, compute) + p.PassSeconds + AllReduceSeconds(pass.Tokens);
    }

    /// <summary>
    /// Seconds of <paramref name="steps"/> consecutive decode passes of <paramref name="sequences"/> sequences, the
    /// first reading <paramref name="firstKeys"/> keys and each next one <paramref name="sequences"/> more (every
    /// sequence grew by one token): the sum in closed form. Both sides of the max are linear in the keys, so they
    /// cross at most once; each part is an arithmetic series.
    /// </summary>
    public double DecodeSpanSeconds(long sequences, long firstKeys, long steps)
    {
        if (steps <= 0) return 0;
        StepTimeParameters p = Parameters;
        // memory(j) = a1 + s1·j, compute(j) = a2 + s2·j, j = 0 .. steps − 1.
        var first = ForwardPass.Decode(sequences, firstKeys);
        double a1 = Bytes(first) / p.Bandwidth + sequences * p.SequenceSeconds;
        double s1 = _kvBytesPerToken * sequences / p.Bandwidth;
        double a2 = Flops(first) / p.MatrixFlops;
        double s2 = _attentionFlopsPerKey * sequences / p.MatrixFlops;
        double fixedPart = steps * (p.PassSeconds + AllReduceSeconds(sequences));
        // Two lines cross at most once: one side wins up to the crossing, the other after it.
        bool memoryFirst = a1 >= a2, memoryLast = a1 + s1 * (steps - 1) >= a2 + s2 * (steps - 1);
        long split = steps;
        if (memoryFirst != memoryLast)
            split = Math.Clamp((long)Math.Ceiling((a2 - a1) / (s1 - s2)), 1, steps - 1);
        (double A, double S) early = memoryFirst ? (a1, s1) : (a2, s2), late = memoryFirst ? (a2, s2) : (a1, s1);
        return fixedPart + Series(early.A, early.S, 0, split) + Series(late.A, late.S, split, steps);
    }

    /// <summary>Σ (a + s·j) for j in [from, to).</summary>
    private static double Series(double a, double s, long from, long to)
    {
        long n = to - from;
        if (n <= 0) return 0;
        return a * n + s * ((double)(from + to - 1) * n / 2);
    }
}
