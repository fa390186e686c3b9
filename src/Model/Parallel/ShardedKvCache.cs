using PagedSim.Allocator;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// The KV cache of a tensor-parallel group: one cache per rank, each on its rank's device holding the rank's KV heads
/// only, behind one set of bookkeeping. Paged: ONE <see cref="KvCacheManager"/> decides (admission, blocks,
/// copy-on-write) and every rank's pools follow its block tables, so each rank owns its share of every block.
/// Contiguous: each rank's cache gets the same calls in the same order and must answer alike (checked). Callers see
/// rank 0's pools through <see cref="Keys"/>/<see cref="Values"/>; the group hands each rank its own cache.
/// </summary>
public sealed class ShardedKvCache : IKvCache
{
    private readonly IKvCache[] _ranks;
    private readonly int _layers;

    private ShardedKvCache(IKvCache[] ranks, int layers)
    {
        _ranks = ranks;
        _layers = layers;
    }

    /// <summary>Paged pools of <paramref name="options"/> on each rank's device, following one block manager.</summary>
    public static ShardedKvCache Paged(Llama3Config local, KvCacheOptions options, IReadOnlyList<Device> devices, ScalarType dtype)
    {
        var manager = new KvCacheManager(options);
        return Create(local, devices, d => new PagedKvCache(local, manager, d, dtype));
    }

    /// <summary>Contiguous rows (one max-length row per sequence) on each rank's device.</summary>
    public static ShardedKvCache Naive(Llama3Config local, int rows, int maxSequenceLength, IReadOnlyList<Device> devices, ScalarType dtype) =>
        Create(local, devices, d => new NaiveKvCache(local, rows, maxSequenceLength, d, dtype));

    /// <summary>Ranks.</summary>
    public int Ranks => _ranks.Length;

    /// <summary>Rank <paramref name="rank"/>'s cache (its device, its KV heads).</summary>
    public IKvCache Rank(int rank) => _ranks[rank];

    /// <summary>The block manager every rank follows (paged), else null.</summary>
    public KvCacheManager? Manager => (_ranks[0] as PagedKvCache)?.Manager;

    /// <inheritdoc/>
    public KvCacheKind Kind => _ranks[0].Kind;

    /// <inheritdoc/>
    public int BlockSize => _ranks[0].BlockSize;

    /// <summary>Rank 0's keys of <paramref name="layer"/>.</summary>
    public Tensor Keys(int layer) => _ranks[0].Keys(layer);

    /// <summary>Rank 0's values of <paramref name="layer"/>.</summary>
    public Tensor Values(int layer) => _ranks[0].Values(layer);

    /// <inheritdoc/>
    public ReadOnlySpan<int> Running => _ranks[0].Running;

    /// <inheritdoc/>
    public bool CanAdd(int tokens) => _ranks[0].CanAdd(tokens);

    /// <inheritdoc/>
    public int Add(int tokens)
    {
        if (Manager is not null) return _ranks[0].Add(tokens);
        int id = _ranks[0].Add(tokens);
        for (int r = 1; r < _ranks.Length; r++)
            if (_ranks[r].Add(tokens) != id) throw new InvalidOperationException($"Rank {r}'s cache admitted the sequence under another id than rank 0's.");
        return id;
    }

    /// <inheritdoc/>
    public void Append(int sequence, int tokens = 1)
    {
        if (Manager is { } manager)
        {
            // One decision; every rank copies its share of a copy-on-write block.
            BlockCopy copy = tokens == 1 ? manager.Append(sequence) : manager.Append(sequence, tokens);
            foreach (IKvCache rank in _ranks) ((PagedKvCache)rank).CopyBlock(copy);
            return;
        }
        foreach (IKvCache rank in _ranks) rank.Append(sequence, tokens);
    }

    /// <inheritdoc/>
    public void Remove(int sequence)
    {
        if (Manager is not null) _ranks[0].Remove(sequence);
        else foreach (IKvCache rank in _ranks) rank.Remove(sequence);
    }

    /// <inheritdoc/>
    public int Length(int sequence) => _ranks[0].Length(sequence);

    /// <inheritdoc/>
    public KvStep Prepare(ReadOnlySpan<int> sequences, int newTokens, Device device) => _ranks[0].Prepare(sequences, newTokens, device);

    /// <summary>Bytes of rank <paramref name="rank"/>'s K/V pools over all layers.</summary>
    public long BytesPerRank(int rank)
    {
        long bytes = 0;
        for (int l = 0; l < _layers; l++)
        {
            Tensor k = _ranks[rank].Keys(l), v = _ranks[rank].Values(l);
            bytes += k.numel() * k.element_size() + v.numel() * v.element_size();
        }
        return bytes;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (IKvCache rank in _ranks) rank.Dispose();
    }

    private static ShardedKvCache Create(Llama3Config local, IReadOnlyList<Device> devices, Func<Device, IKvCache> make)
    {
        var ranks = new List<IKvCache>(devices.Count);
        try
        {
            foreach (Device d in devices) ranks.Add(make(d));
            return new ShardedKvCache([.. ranks], local.Layers);
        }
        catch
        {
            foreach (IKvCache c in ranks) c.Dispose();
            throw;
        }
    }
}
