using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.Attention.Paged;
using PagedSim.Model.Kernels;
using PagedSim.Model.KvCache;
using PagedSim.Model.Parallel;
using PagedSim.Allocator;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model;

/// <summary>
/// Llama 3, forward pass readable top to bottom: embed → for each layer (residual add + RMSNorm, fused qkv, RoPE +
/// cache write, attention, output projection, residual add + RMSNorm, fused SwiGLU) → residual add + RMSNorm →
/// output head. The operations between matmuls come from <see cref="Kernels"/>. Works on a
/// batch of sequences that each append the same number of tokens (a prefill of equal-length prompts, or one decode
/// token each); positions and cache slots come from the cache's <see cref="KvStep"/>.
/// </summary>
public sealed class Llama3 : IDisposable
{
    private readonly RotaryEmbedding _rope;

    /// <summary>
    /// Wraps loaded weights; <paramref name="maxPositions"/> bounds sequence length (RoPE table).
    /// <paramref name="kernels"/> defaults to <see cref="LayerKernels.Select"/>'s <c>auto</c>: fused on CUDA when the
    /// native library has them, else eager; the model disposes them with itself. <paramref name="parallel"/> makes this
    /// model one rank of a tensor-parallel group (see <see cref="Parallel"/>): <paramref name="config"/> and
    /// <paramref name="weights"/> are then the rank's shape and shard.
    /// </summary>
    public Llama3(Llama3Config config, Llama3Weights weights, Device device, ScalarType dtype, int maxPositions = 8192, ILayerKernels? kernels = null,
        ParallelRank? parallel = null)
    {
        Parallel = parallel;
        Config = config;
        Kernels = kernels ?? LayerKernels.Select("auto", device, dtype);
        Weights = weights;
        Device = device;
        DType = dtype;
        _rope = new RotaryEmbedding(config.HeadDim, config.RopeTheta, maxPositions, device, config.RopeScaling);
    }

    /// <summary>Model shape.</summary>
    public Llama3Config Config { get; }

    /// <summary>Weights, on <see cref="Device"/> in <see cref="DType"/>.</summary>
    public Llama3Weights Weights { get; }

    /// <summary>Where the weights and activations live.</summary>
    public Device Device { get; }

    /// <summary>Compute dtype (and the KV cache's): float32 on the CPU, bf16 on the GPU by default.</summary>
    public ScalarType DType { get; }

    /// <summary>The layer operations between the matmuls (eager TorchSharp, or fused native kernels).</summary>
    public ILayerKernels Kernels { get; }

    /// <summary>
    /// This model's rank in a tensor-parallel group, or null when it holds the whole model. The layers are the same
    /// pass with the rank's head counts; the rank adds an all-reduce after the o and down projections, a
    /// vocabulary-parallel embedding and a gather of the logits. Rank 0's model runs every rank's pass on each call.
    /// </summary>
    public ParallelRank? Parallel { get; }

    /// <summary>Longest sequence the RoPE table covers.</summary>
    public int MaxPositions => _rope.MaxPositions;

    /// <summary>
    /// Loads a checkpoint directory (Meta or Hugging Face layout). <paramref name="dtype"/> defaults to float32 on the
    /// CPU and bf16 elsewhere; <paramref name="maxPositions"/> to the checkpoint's context
    /// (<see cref="Llama3Config.MaxPositions"/>).
    /// </summary>
    public static Llama3 Load(string directory, Device? device = null, ScalarType? dtype = null, int? maxPositions = null, ILayerKernels? kernels = null)
    {
        device ??= CPU;
        ScalarType type = dtype ?? (device.type == DeviceType.CPU ? ScalarType.Float32 : ScalarType.BFloat16);
        (Llama3Config config, Llama3Weights weights) = Llama3Weights.Load(directory, device, type);
        return new Llama3(config, weights, device, type, maxPositions ?? config.MaxPositions, kernels);
    }

    /// <summary>
    /// One forward pass: <paramref name="tokens"/> int64 [batch, len] are the new tokens of each sequence of
    /// <paramref name="step"/>; their K/V are written into <paramref name="cache"/>. Returns float32 logits
    /// [batch, vocab] of each sequence's last position. Call inside a dispose scope.
    /// </summary>
    public Tensor Forward(Tensor tokens, IKvCache cache, KvStep step, IAttentionBackend attention)
    {
        using var noAutograd = inference_mode(); // no autograd bookkeeping in any operation of the pass
        return Parallel is { } p ? GroupOf(p).Forward(tokens, cache, step, attention, greedy: false) : ForwardOutput(tokens, cache, step, attention, greedy: false);
    }

    /// <summary>
    /// As <see cref="Forward"/>, for greedy decoding: each sequence's most likely next token, int64 [batch] (the same
    /// ids as <c>Forward(...).argmax(-1)</c>), chosen on the logits in the model's dtype by <see cref="Kernels"/>.
    /// </summary>
    public Tensor ForwardGreedy(Tensor tokens, IKvCache cache, KvStep step, IAttentionBackend attention)
    {
        using var noAutograd = inference_mode();
        return Parallel is { } p ? GroupOf(p).Forward(tokens, cache, step, attention, greedy: true) : ForwardOutput(tokens, cache, step, attention, greedy: true);
    }

    /// <summary>
    /// One forward pass over parts of different query lengths (prompts of several lengths): part i is
    /// <paramref name="steps"/>[i] with new tokens <paramref name="tokens"/>[i], int64 [b_i, len_i]. The norms, matmuls,
    /// RoPE and cache writes run once over every part's tokens together, so the weights are read once; attention runs
    /// once a part. Returns float32 logits [Σ b_i, vocab] of each sequence's last position, parts in order. Call
    /// inside a dispose scope. Not for a tensor-parallel model.
    /// </summary>
    public Tensor ForwardRagged(IReadOnlyList<Tensor> tokens, IReadOnlyList<KvStep> steps, IKvCache cache, IAttentionBackend attention)
    {
        using var noAutograd = inference_mode();
        return RaggedHead(tokens, steps, cache, attention).to(ScalarType.Float32);
    }

    /// <summary>As <see cref="ForwardRagged"/>, for greedy decoding: each sequence's most likely next token, int64 [Σ b_i].</summary>
    public Tensor ForwardRaggedGreedy(IReadOnlyList<Tensor> tokens, IReadOnlyList<KvStep> steps, IKvCache cache, IAttentionBackend attention)
    {
        using var noAutograd = inference_mode();
        return Kernels.Argmax(RaggedHead(tokens, steps, cache, attention));
    }

    /// <summary>
    /// A paged cache for this model: plain, or for a tensor-parallel group one whose pools each rank holds its KV
    /// heads of, following one block manager.
    /// </summary>
    public IKvCache NewPagedCache(KvCacheOptions options) =>
        Parallel is { } p ? p.Group.PagedCache(options) : new PagedKvCache(Config, options, Device, DType);

    /// <summary>A naive cache of <paramref name="rows"/> rows for this model (sharded by KV heads under tensor parallelism).</summary>
    public IKvCache NewNaiveCache(int rows, int maxSequenceLength) =>
        Parallel is { } p ? p.Group.NaiveCache(rows, maxSequenceLength) : new NaiveKvCache(Config, rows, maxSequenceLength, Device, DType);

    /// <summary>This model's own pass (one rank's, under tensor parallelism): float32 logits, or greedy ids.</summary>
    internal Tensor ForwardOutput(Tensor tokens, IKvCache cache, KvStep step, IAttentionBackend attention, bool greedy)
    {
        Tensor logits = ForwardHead(tokens, cache, step, attention);
        return greedy ? Kernels.Argmax(logits) : logits.to(ScalarType.Float32);
    }

    private static TensorParallelGroup GroupOf(ParallelRank p) =>
        p.Rank == 0 ? p.Group : throw new InvalidOperationException($"Rank {p.Rank}'s model runs only as part of its group: call rank 0's.");

    /// <summary>The forward pass up to the output head: logits [batch, vocab] in the model's dtype (callers hold an
    /// inference_mode scope, so no operation below keeps autograd bookkeeping).</summary>
    private Tensor ForwardHead(Tensor tokens, IKvCache cache, KvStep step, IAttentionBackend attention)
    {
        Llama3Config c = Config;
        long batch = tokens.shape[0], len = tokens.shape[1], n = batch * len;
        if (batch != step.BatchSize || len != step.QueryLength)
            throw new ArgumentException($"Tokens [{batch}, {len}] do not match the step [{step.BatchSize}, {step.QueryLength}].", nameof(tokens));
        if (step.MaxSequenceLength > MaxPositions)
            throw new ArgumentException($"Sequence length {step.MaxSequenceLength} exceeds the {MaxPositions} positions of the RoPE table.", nameof(step));
        double scale = 1.0 / Math.Sqrt(c.HeadDim);
        ILayerKernels k = Kernels;

        // The residual stream [tokens, dim], updated in place; each block's output (delta) is added to it by the
        // next block's norm, so the add and the norm are one kernel. h ends as the output head's input.
        Tensor x = Parallel is { } tp ? tp.Embed(Weights.Embedding, tokens) : Weights.Embedding.index_select(0, tokens.reshape(-1));
        Tensor h;
        // The paged decode kernel takes decode passes over a paged cache; its other passes go to its OtherPasses backend.
        PagedDecodeAttention? paged = attention is PagedDecodeAttention p && len == 1 && cache.Kind == KvCacheKind.Paged ? p : null;
        FlashAttentionBackend? flash = attention as FlashAttentionBackend ?? (attention as PagedDecodeAttention)?.OtherPasses as FlashAttentionBackend;
        if (k is FusedCudaKernels fused && (paged is not null || flash is not null) && Parallel is null)
        {
            // The same layers, queued from native code in one call (or replayed as a CUDA graph): a decode step is
            // bound by the CPU time of its ~450 launches, and a TorchSharp operation costs several times a launch.
            h = fused.ForwardLayers(this, _rope, step, cache, paged is null ? flash : null, scale, x, paged);
        }
        else
        {
            h = empty([n, c.Dim], DType, Device);
            ForwardLayersOneByOne(x, h, cache, step, [step], attention, scale);
        }

        // Only the last position's logits are needed.
        Tensor last = len == 1 ? h : h.view(batch, len, c.Dim).select(1, len - 1).contiguous();
        Tensor logits = k.Linear(last, Weights.Output);
        return Parallel is { } rank ? rank.GatherVocab(logits) : logits;
    }

    /// <summary>The ragged pass up to the output head: logits [Σ b_i, vocab] in the model's dtype.</summary>
    private Tensor RaggedHead(IReadOnlyList<Tensor> tokens, IReadOnlyList<KvStep> steps, IKvCache cache, IAttentionBackend attention)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(steps);
        if (Parallel is not null) throw new NotSupportedException("A tensor-parallel model takes one query length a pass.");
        if (tokens.Count == 0 || tokens.Count != steps.Count)
            throw new ArgumentException($"{tokens.Count} token tensor(s) for {steps.Count} step(s); a ragged pass needs one a step, at least one.", nameof(tokens));
        Llama3Config c = Config;
        var lastRows = new List<long>();
        long n = 0;
        for (int i = 0; i < steps.Count; i++)
        {
            KvStep s = steps[i];
            if (tokens[i].shape[0] != s.BatchSize || tokens[i].shape[1] != s.QueryLength)
                throw new ArgumentException($"Part {i}: tokens [{tokens[i].shape[0]}, {tokens[i].shape[1]}] do not match the step [{s.BatchSize}, {s.QueryLength}].", nameof(tokens));
            if (s.MaxSequenceLength > MaxPositions)
                throw new ArgumentException($"Sequence length {s.MaxSequenceLength} exceeds the {MaxPositions} positions of the RoPE table.", nameof(steps));
            for (int b = 0; b < s.BatchSize; b++) lastRows.Add(n + (b + 1L) * s.QueryLength - 1);
            n += (long)s.BatchSize * s.QueryLength;
        }

        // RoPE and the cache writes take the pass as n sequences of one token each: their positions and slots in order.
        // Where flash-attn takes the whole pass in one call, their step also carries every part's block table rows and
        // lengths, one row a sequence (other backends take one call a part, with the parts' own steps).
        Tensor x = Weights.Embedding.index_select(0, cat(tokens.Select(t => t.reshape(-1)).ToList(), 0));
        FlashAttentionBackend? flash = RaggedFlash(attention, cache.Kind, cache.Keys(0).shape[1]);
        (Tensor table, Tensor lengths, RaggedQueries? queries) = flash is null ? (steps[0].BlockTable, steps[0].SequenceLengths, null) : RaggedRows(steps);
        var writes = new KvStep((int)n, 1, cat(steps.Select(s => s.Positions.reshape(-1)).ToList(), 0).view(n, 1),
            cat(steps.Select(s => s.Slots).ToList(), 0), table, lengths, steps.Max(s => s.MaxSequenceLength));
        double scale = 1.0 / Math.Sqrt(c.HeadDim);
        Tensor h;
        if (Kernels is FusedCudaKernels fused && queries is not null)
        {
            h = fused.ForwardLayersRagged(this, _rope, writes, cache, flash!, scale, x, queries);
        }
        else
        {
            h = empty([n, c.Dim], DType, Device);
            ForwardLayersOneByOne(x, h, cache, writes, steps, attention, scale, queries is null ? null : (flash!, queries));
        }
        Tensor last = h.index_select(0, KvCache.DeviceUpload.Of([.. lastRows], [lastRows.Count], Device));
        return Kernels.Linear(last, Weights.Output);
    }

    /// <summary>Whether this model runs a ragged prefill pass in the native layer loop with <paramref name="attention"/> over
    /// a cache of <paramref name="kind"/> and <paramref name="blockSize"/> (one flash-attn call a layer); else it runs
    /// operation by operation, one attention call a prompt length. The runner's memory prediction asks this.</summary>
    public bool RaggedPassInLayerLoop(IAttentionBackend attention, KvCacheKind kind, long blockSize) =>
        Kernels is FusedCudaKernels && RaggedFlash(attention, kind, blockSize) is not null;

    /// <summary>flash-attn where it takes a ragged pass in one call (directly, or as the paged decode kernel's backend for
    /// prompts; paged blocks a multiple of 256), else null.</summary>
    private static FlashAttentionBackend? RaggedFlash(IAttentionBackend attention, KvCacheKind kind, long blockSize)
    {
        FlashAttentionBackend? flash = attention as FlashAttentionBackend ?? (attention as PagedDecodeAttention)?.OtherPasses as FlashAttentionBackend;
        return flash is not null && (kind == KvCacheKind.Contiguous || blockSize % 256 == 0) ? flash : null;
    }

    /// <summary>Every part's block table rows (padded with -1 to the widest) and lengths, one row a sequence in part
    /// order, and where each sequence's queries start among the pass's tokens.</summary>
    private (Tensor Table, Tensor Lengths, RaggedQueries Queries) RaggedRows(IReadOnlyList<KvStep> steps)
    {
        int rows = steps.Sum(s => s.BatchSize);
        long width = steps.Max(s => s.BlockTable.shape[1]);
        Tensor table = empty([rows, width], ScalarType.Int32, Device);
        using (Scalar none = (-1).ToScalar()) table.fill_(none);
        var starts = new int[rows + 1];
        int row = 0;
        foreach (KvStep s in steps)
        {
            table.narrow(0, row, s.BatchSize).narrow(1, 0, s.BlockTable.shape[1]).copy_(s.BlockTable);
            for (int b = 0; b < s.BatchSize; b++, row++) starts[row + 1] = starts[row] + s.QueryLength;
        }
        Tensor lengths = cat(steps.Select(s => s.SequenceLengths).ToList(), 0);
        return (table, lengths, new RaggedQueries(DeviceUpload.Of(starts, [rows + 1], Device), steps.Max(s => s.QueryLength)));
    }

    /// <summary>
    /// The layers operation by operation through <see cref="Kernels"/> (any device, kernel set and attention backend):
    /// <paramref name="writes"/> places every token's K/V; attention runs once for each of <paramref name="parts"/>,
    /// whose tokens follow one another in <paramref name="x"/> (one part: a plain pass), or, with
    /// <paramref name="ragged"/>, once a layer over all of them through that flash-attn backend with <paramref name="writes"/>' rows.
    /// </summary>
    private void ForwardLayersOneByOne(Tensor x, Tensor h, IKvCache cache, KvStep writes, IReadOnlyList<KvStep> parts, IAttentionBackend attention, double scale,
        (FlashAttentionBackend Flash, RaggedQueries Queries)? ragged = null)
    {
        Llama3Config c = Config;
        ILayerKernels k = Kernels;
        long n = (long)writes.BatchSize * writes.QueryLength;
        // Buffers every layer reuses, and each part's view of them.
        Tensor q = empty([n, c.Heads, c.HeadDim], DType, Device), attn = empty_like(q), attnFlat = attn.view(n, c.Heads * c.HeadDim);
        var views = new (Tensor Query, Tensor Output, KvStep Step)[parts.Count];
        long offset = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            KvStep p = parts[i];
            long count = (long)p.BatchSize * p.QueryLength;
            views[i] = (q.narrow(0, offset, count).view(p.BatchSize, p.QueryLength, c.Heads, c.HeadDim),
                attn.narrow(0, offset, count).view(p.BatchSize, p.QueryLength, c.Heads, c.HeadDim), p);
            offset += count;
        }
        Tensor act = empty([n, c.HiddenDim], DType, Device);
        Tensor? delta = null;
        for (int l = 0; l < c.Layers; l++)
        {
            LayerWeights w = Weights.Layers[l];
            // Each layer's temporaries are freed when the layer ends; otherwise a long prompt's activations stay
            // allocated for every layer until the pass ends (about 19 GB for 2,589 tokens of Llama 3 8B).
            using DisposeScope layer = NewDisposeScope();

            // Attention: fused qkv projection; RoPE on q and k and the K/V cache write; attention over the cache.
            k.AddRmsNorm(x, delta, w.AttentionNorm, c.NormEps, h);
            k.RopeAndCacheWrite(k.Linear(h, w.Wqkv), _rope, writes, cache, l, c, q);
            if (ragged is { } r)
                r.Flash.ForwardRagged(new AttentionInputs(q.view(1, n, c.Heads, c.HeadDim), cache.Keys(l), cache.Values(l), cache.Kind,
                    writes.BlockTable, writes.SequenceLengths, writes.MaxSequenceLength, Causal: true, scale), r.Queries, attn.view(1, n, c.Heads, c.HeadDim));
            else
                foreach ((Tensor query, Tensor output, KvStep p) in views)
                    attention.Forward(new AttentionInputs(query, cache.Keys(l), cache.Values(l), cache.Kind, p.BlockTable,
                        p.SequenceLengths, p.MaxSequenceLength, Causal: true, scale), output);

            // Feed-forward: SwiGLU with gate (w1) and up (w3) fused in one matmul.
            // Under tensor parallelism o and down are row-parallel: each rank's product is a partial sum.
            Tensor attnOut = k.Linear(attnFlat, w.Wo);
            Parallel?.AllReduce(attnOut);
            k.AddRmsNorm(x, attnOut, w.FfnNorm, c.NormEps, h);
            k.SiluMul(k.Linear(h, w.W13), act);
            Tensor ffnOut = k.Linear(act, w.W2);
            Parallel?.AllReduce(ffnOut);
            delta?.Dispose(); // the previous layer's output, already added
            delta = layer.MoveToOuter(ffnOut);
        }
        k.AddRmsNorm(x, delta, Weights.Norm, c.NormEps, h);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Parallel is { Rank: 0 } p) p.Group.Dispose();
        _rope.Dispose();
        Weights.Dispose();
        (Kernels as IDisposable)?.Dispose();
    }
}
