using static TorchSharp.torch;

namespace PagedSim.Model.KvCache;

/// <summary>
/// The naive cache (like llama3-naive.py): per layer, K and V [rows, maxSequenceLength, kvHeads, headDim]; each
/// sequence owns one whole row from admission to removal, however short it is.
/// </summary>
public sealed class NaiveKvCache : IKvCache
{
    private readonly Tensor[] _keys, _values;
    private readonly int[] _lengths;          // tokens per row; -1 when the row is free
    private readonly List<int> _running = [];  // sequence id == row; batch order
    private readonly Stack<int> _freeRows = new();

    /// <summary>Allocates <paramref name="rows"/> zeroed rows of <paramref name="maxSequenceLength"/> slots.</summary>
    public NaiveKvCache(Llama3Config config, int rows, int maxSequenceLength, Device device, ScalarType dtype)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSequenceLength);
        MaxSequenceLength = maxSequenceLength;
        _lengths = new int[rows];
        Array.Fill(_lengths, -1);
        for (int r = rows - 1; r >= 0; r--) _freeRows.Push(r);
        _keys = new Tensor[config.Layers];
        _values = new Tensor[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            _keys[l] = zeros([rows, maxSequenceLength, config.KvHeads, config.HeadDim], dtype, device).DetachFromDisposeScope();
            _values[l] = zeros([rows, maxSequenceLength, config.KvHeads, config.HeadDim], dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>Slots per row.</summary>
    public int MaxSequenceLength { get; }

    /// <inheritdoc/>
    public KvCacheKind Kind => KvCacheKind.Contiguous;

    /// <inheritdoc/>
    public int BlockSize => MaxSequenceLength;

    /// <inheritdoc/>
    public Tensor Keys(int layer) => _keys[layer];

    /// <inheritdoc/>
    public Tensor Values(int layer) => _values[layer];

    /// <inheritdoc/>
    public ReadOnlySpan<int> Running => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_running);

    /// <inheritdoc/>
    public bool CanAdd(int tokens) => _freeRows.Count > 0 && tokens > 0 && tokens <= MaxSequenceLength;

    /// <inheritdoc/>
    public int Add(int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (tokens > MaxSequenceLength) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"A row holds at most {MaxSequenceLength} tokens.");
        if (_freeRows.Count == 0) throw new InvalidOperationException($"All {_lengths.Length} cache rows are in use.");
        int row = _freeRows.Pop();
        _lengths[row] = tokens;
        _running.Add(row);
        return row;
    }

    /// <inheritdoc/>
    public void Append(int sequence, int tokens = 1)
    {
        CheckRunning(sequence);
        if (_lengths[sequence] + tokens > MaxSequenceLength)
            throw new InvalidOperationException($"Sequence {sequence} would exceed the row length {MaxSequenceLength}.");
        _lengths[sequence] += tokens;
    }

    /// <inheritdoc/>
    public void Remove(int sequence)
    {
        CheckRunning(sequence);
        _lengths[sequence] = -1;
        // The last running sequence takes the leaver's place, as in KvCacheManager's dense rows, so both caches
        // batch the same sequences in the same order.
        int at = _running.IndexOf(sequence);
        _running[at] = _running[^1];
        _running.RemoveAt(_running.Count - 1);
        _freeRows.Push(sequence);
    }

    /// <inheritdoc/>
    public int Length(int sequence)
    {
        CheckRunning(sequence);
        return _lengths[sequence];
    }

    /// <inheritdoc/>
    public KvStep Prepare(ReadOnlySpan<int> sequences, int newTokens, Device device)
    {
        int batch = sequences.Length, maxLength = 0;
        var rows = new int[batch];
        var seqLens = new int[batch];
        var slots = new long[batch * newTokens];
        var positions = new long[batch * newTokens];
        for (int b = 0; b < batch; b++)
        {
            int row = rows[b] = sequences[b];
            int length = seqLens[b] = Length(row);
            maxLength = Math.Max(maxLength, length);
            for (int t = 0; t < newTokens; t++)
            {
                int pos = length - newTokens + t;
                positions[b * newTokens + t] = pos;
                slots[b * newTokens + t] = (long)row * MaxSequenceLength + pos;
            }
        }
        return new KvStep(batch, newTokens,
            DeviceUpload.Of(positions, [batch, newTokens], device),
            DeviceUpload.Of(slots, [slots.Length], device),
            DeviceUpload.Of(rows, [batch, 1], device),
            DeviceUpload.Of(seqLens, [batch], device),
            maxLength);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (Tensor t in _keys) t.Dispose();
        foreach (Tensor t in _values) t.Dispose();
    }

    private void CheckRunning(int sequence)
    {
        if ((uint)sequence >= (uint)_lengths.Length || _lengths[sequence] < 0)
            throw new ArgumentException($"Unknown sequence {sequence}: it was never added or has been removed.", nameof(sequence));
    }
}
