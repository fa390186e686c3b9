using PagedSim.Allocator;
using static TorchSharp.torch;

namespace PagedSim.Model.KvCache;

/// <summary>
/// The paged cache: per layer, K and V block pools [numBlocks, blockSize, kvHeads, headDim], and the allocator's
/// <see cref="KvCacheManager"/>, whose ONE block table per sequence addresses every layer. New K/V are written in
/// place into the slots the manager assigned; attention reads through the manager's dense block table.
/// </summary>
public sealed class PagedKvCache : IKvCache
{
    private readonly Tensor[] _keys, _values;

    /// <summary>Allocates zeroed pools for <paramref name="config"/> (zeros: a stale slot must never hold NaN).</summary>
    public PagedKvCache(Llama3Config config, KvCacheOptions options, Device device, ScalarType dtype)
        : this(config, new KvCacheManager(options), device, dtype)
    {
    }

    /// <summary>
    /// Pools that follow <paramref name="manager"/>'s block tables (a tensor-parallel rank's share of every block:
    /// <paramref name="config"/> is the rank's shape, so the pools hold its KV heads only).
    /// </summary>
    internal PagedKvCache(Llama3Config config, KvCacheManager manager, Device device, ScalarType dtype)
    {
        Manager = manager;
        KvCacheOptions options = manager.Options;
        _keys = new Tensor[config.Layers];
        _values = new Tensor[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            _keys[l] = zeros([options.NumBlocks, options.BlockSize, config.KvHeads, config.HeadDim], dtype, device).DetachFromDisposeScope();
            _values[l] = zeros([options.NumBlocks, options.BlockSize, config.KvHeads, config.HeadDim], dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>The block allocator (shared with schedulers and the simulator).</summary>
    public KvCacheManager Manager { get; }

    /// <inheritdoc/>
    public KvCacheKind Kind => KvCacheKind.Paged;

    /// <inheritdoc/>
    public int BlockSize => Manager.BlockSize;

    /// <inheritdoc/>
    public Tensor Keys(int layer) => _keys[layer];

    /// <inheritdoc/>
    public Tensor Values(int layer) => _values[layer];

    /// <inheritdoc/>
    public ReadOnlySpan<int> Running => Manager.RunningSequences;

    /// <inheritdoc/>
    public bool CanAdd(int tokens) => Manager.CanAdmit(tokens);

    /// <inheritdoc/>
    public int Add(int tokens) => Manager.Admit(tokens);

    /// <inheritdoc/>
    public void Append(int sequence, int tokens = 1)
    {
        // Copy-on-write of a shared partial block (after a fork): every layer's contents move with it.
        CopyBlock(tokens == 1 ? Manager.Append(sequence) : Manager.Append(sequence, tokens));
    }

    /// <summary>
    /// Carries out a copy-on-write the manager returned (<see cref="KvCacheManager.Append(int)"/> after a
    /// <see cref="KvCacheManager.Fork"/>): block <see cref="BlockCopy.Source"/>'s K and V move to
    /// <see cref="BlockCopy.Destination"/> in every layer's pools. Nothing happens when no copy is needed.
    /// </summary>
    public void CopyBlock(BlockCopy copy)
    {
        if (!copy.IsNeeded) return;
        using var scope = NewDisposeScope();
        for (int l = 0; l < _keys.Length; l++)
        {
            _keys[l][copy.Destination].copy_(_keys[l][copy.Source]);
            _values[l][copy.Destination].copy_(_values[l][copy.Source]);
        }
    }

    /// <summary>
    /// Carries out several copy-on-writes at once (a step's, e.g. the first appends of forked samples): one gather and
    /// one scatter per pool instead of a copy per block and pool. Destinations are fresh blocks, never a source.
    /// </summary>
    public void CopyBlocks(IReadOnlyList<BlockCopy> copies)
    {
        ArgumentNullException.ThrowIfNull(copies);
        long[] sources = [.. copies.Where(c => c.IsNeeded).Select(c => (long)c.Source)];
        if (sources.Length == 0) return;
        if (sources.Length == 1)
        {
            CopyBlock(copies.First(c => c.IsNeeded));
            return;
        }
        long[] destinations = [.. copies.Where(c => c.IsNeeded).Select(c => (long)c.Destination)];
        using var scope = NewDisposeScope();
        Tensor from = DeviceUpload.Of(sources, [sources.Length], _keys[0].device), to = DeviceUpload.Of(destinations, [destinations.Length], _keys[0].device);
        for (int l = 0; l < _keys.Length; l++)
        {
            _keys[l].index_copy_(0, to, _keys[l].index_select(0, from));
            _values[l].index_copy_(0, to, _values[l].index_select(0, from));
        }
    }

    /// <inheritdoc/>
    public void Remove(int sequence) => Manager.Free(sequence);

    /// <inheritdoc/>
    public int Length(int sequence) => Manager.Table(sequence).TokenCount;

    /// <inheritdoc/>
    public KvStep Prepare(ReadOnlySpan<int> sequences, int newTokens, Device device) => Prepare(sequences, newTokens, device, pendingTokens: 0);

    /// <summary>
    /// As <see cref="Prepare(ReadOnlySpan{int}, int, Device)"/>, for a caller whose manager already counts
    /// <paramref name="pendingTokens"/> token(s) per sequence that no pass has written yet (the continuous loop's
    /// scheduler counts the token a step produces): the pass writes the <paramref name="newTokens"/> positions ending
    /// before those and attends over the tokens written so far.
    /// </summary>
    internal KvStep Prepare(ReadOnlySpan<int> sequences, int newTokens, Device device, int pendingTokens)
    {
        int batch = sequences.Length, bs = Manager.BlockSize, width = Manager.MaxBlocksPerSequence;
        ReadOnlySpan<int> dense = Manager.DenseBlockTable, lengths = Manager.DenseSequenceLengths;
        var seqLens = new int[batch];
        int maxLength = 0;
        for (int b = 0; b < batch; b++)
        {
            int written = lengths[Manager.RowOf(sequences[b])] - pendingTokens;
            if (written < newTokens) throw new InvalidOperationException($"Sequence {sequences[b]} holds {written} written token(s); cannot feed {newTokens}.");
            seqLens[b] = written;
            maxLength = Math.Max(maxLength, written);
        }
        int used = (maxLength + bs - 1) / bs; // the table is trimmed to the blocks this batch can reach
        var table = new int[batch * used];
        var slots = new long[batch * newTokens];
        var positions = new long[batch * newTokens];
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<int> blocks = dense.Slice(Manager.RowOf(sequences[b]) * width, width);
            blocks[..used].CopyTo(table.AsSpan(b * used, used));
            for (int t = 0; t < newTokens; t++)
            {
                int pos = seqLens[b] - newTokens + t;
                positions[b * newTokens + t] = pos;
                slots[b * newTokens + t] = (long)blocks[pos / bs] * bs + pos % bs;
            }
        }
        return new KvStep(batch, newTokens,
            DeviceUpload.Of(positions, [batch, newTokens], device),
            DeviceUpload.Of(slots, [slots.Length], device),
            DeviceUpload.Of(table, [batch, used], device),
            DeviceUpload.Of(seqLens, [batch], device),
            maxLength);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (Tensor t in _keys) t.Dispose();
        foreach (Tensor t in _values) t.Dispose();
    }
}
