using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// Which rows and columns of every weight each of <see cref="Ranks"/> tensor-parallel ranks holds (Megatron-style):
/// q/k/v and gate/up column-parallel (rank r holds heads r·H/N … and hidden columns r·F/N …), o and down row-parallel
/// (the matching input columns; their partial outputs are summed by one all-reduce each), the embedding and output
/// head vocabulary-parallel (rows r·V/N …), norms replicated. KV heads are split, never replicated, so
/// <see cref="Ranks"/> must divide the KV heads (8 for every Llama 3: TP ≤ 8). Slicing methods take the full fused
/// tensors of <see cref="LayerWeights"/> and return a new contiguous tensor (never a view) of the rank's share, on the input's device.
/// </summary>
/// <param name="Config">The whole model's shape.</param>
/// <param name="Ranks">Tensor-parallel degree N.</param>
public sealed record ShardingPlan(Llama3Config Config, int Ranks)
{
    /// <summary>Null when <paramref name="ranks"/> can split <paramref name="config"/> evenly, else one line saying why not.</summary>
    public static string? WhyNot(Llama3Config config, int ranks)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (ranks < 1) return $"tensor parallelism must be at least 1, got {ranks}";
        if (config.KvHeads % ranks != 0)
            return $"tensor parallelism {ranks} does not divide the model's {config.KvHeads} KV heads (each rank holds whole KV heads: TP ≤ {config.KvHeads} and a divisor of it)";
        if (config.Heads % ranks != 0) return $"tensor parallelism {ranks} does not divide the model's {config.Heads} attention heads";
        if (config.HiddenDim % ranks != 0) return $"tensor parallelism {ranks} does not divide the model's SwiGLU width {config.HiddenDim}";
        if (config.VocabSize % ranks != 0) return $"tensor parallelism {ranks} does not divide the model's vocabulary of {config.VocabSize}";
        return null;
    }

    /// <summary>The plan for <paramref name="ranks"/> ranks.</summary>
    /// <exception cref="ArgumentException">The model cannot be split evenly (see <see cref="WhyNot"/>).</exception>
    public static ShardingPlan Create(Llama3Config config, int ranks) =>
        WhyNot(config, ranks) is string why ? throw new ArgumentException(why, nameof(ranks)) : new ShardingPlan(config, ranks);

    /// <summary>
    /// One rank's shape: its query heads, KV heads and SwiGLU columns, with the whole model's width, head size and
    /// vocabulary (the forward pass returns logits over the whole vocabulary after gathering the ranks' slices).
    /// </summary>
    public Llama3Config Local => Config with
    {
        Heads = Config.Heads / Ranks, KvHeads = Config.KvHeads / Ranks, HiddenDim = Config.HiddenDim / Ranks, HeadDim = Config.HeadDim,
    };

    /// <summary>Vocabulary rows per rank.</summary>
    public int VocabPerRank => Config.VocabSize / Ranks;

    /// <summary>The first vocabulary row rank <paramref name="rank"/> holds.</summary>
    public int VocabStart(int rank) => CheckRank(rank) * VocabPerRank;

    /// <summary>Rank <paramref name="rank"/>'s rows of <c>[wq; wk; wv]</c> [(H + 2·KV)·hd, dim]: its q heads, then its k and v heads.</summary>
    public Tensor Qkv(Tensor wqkv, int rank)
    {
        Llama3Config c = Config, l = Local;
        long hd = c.HeadDim, q = c.Heads * hd, kv = c.KvHeads * hd, qL = l.Heads * hd, kvL = l.KvHeads * hd;
        CheckRows(wqkv, q + 2 * kv, "wqkv");
        CheckRank(rank);
        using var scope = NewDisposeScope();
        return cat([wqkv.narrow(0, rank * qL, qL), wqkv.narrow(0, q + rank * kvL, kvL), wqkv.narrow(0, q + kv + rank * kvL, kvL)], 0)
            .contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Rank <paramref name="rank"/>'s rows of <c>[w1; w3]</c> [2·F, dim]: its gate columns, then its up columns.</summary>
    public Tensor GateUp(Tensor w13, int rank)
    {
        long f = Config.HiddenDim, fL = f / Ranks;
        CheckRows(w13, 2 * f, "w13");
        CheckRank(rank);
        using var scope = NewDisposeScope();
        return cat([w13.narrow(0, rank * fL, fL), w13.narrow(0, f + rank * fL, fL)], 0).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Rank <paramref name="rank"/>'s input columns of a row-parallel weight [dim, in] (wo: in = H·hd; w2: in = F).</summary>
    public Tensor InputColumns(Tensor w, int rank)
    {
        long cols = w.shape[1];
        if (cols % Ranks != 0) throw new ArgumentException($"{cols} input columns do not split into {Ranks} ranks.", nameof(w));
        long n = cols / Ranks;
        return w.narrow(1, CheckRank(rank) * n, n).clone(); // a copy: a view would keep the whole matrix alive
    }

    /// <summary>Rank <paramref name="rank"/>'s vocabulary rows of the embedding or output head [V, dim].</summary>
    public Tensor VocabRows(Tensor w, int rank)
    {
        CheckRows(w, Config.VocabSize, "vocabulary matrix");
        return w.narrow(0, VocabStart(rank), VocabPerRank).clone();
    }

    private int CheckRank(int rank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(rank, Ranks);
        return rank;
    }

    private static void CheckRows(Tensor w, long rows, string what)
    {
        if (w.dim() != 2 || w.shape[0] != rows)
            throw new ArgumentException($"{what} has shape [{string.Join(", ", w.shape)}]; expected {rows} rows.", nameof(w));
    }
}
