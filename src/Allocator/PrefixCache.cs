using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace PagedSim.Allocator;

/// <summary>
/// Automatic prefix caching's index: which physical blocks hold which full blocks of token ids, and which of those no
/// sequence holds any more (evictable, least recently used first). A block's key is XxHash64 of its token ids seeded
/// with the key of the block before it, so a key stands for the whole prefix up to the block's end. A lookup is
/// confirmed by comparing the stored token ids and the registration of the block before it, so a hash collision can
/// never hand a sequence another prefix's K/V. Used by <see cref="KvCacheManager"/> at admit, allocate and free; the
/// <see cref="BlockPool"/> keeps the reference counts.
/// </summary>
public sealed class PrefixCache
{
    private const int None = -1;

    private readonly int _blockSize;
    private readonly Dictionary<ulong, int> _byKey = [];
    private readonly ulong[] _key;
    private readonly long[] _serial;        // unique per registration; 0 when the block holds no registered contents
    private readonly long[] _parentSerial;  // registration of the block before it (0 for a sequence's first block)
    private readonly int[] _tokens;         // blockSize ids per block
    private readonly int[] _prev, _next;    // evictable blocks, a doubly linked list: head least recently used
    private readonly bool[] _evictable;
    private int _head = None, _tail = None;
    private long _nextSerial = 1;

    /// <summary>Creates an empty index over <paramref name="capacity"/> blocks of <paramref name="blockSize"/> tokens.</summary>
    public PrefixCache(int capacity, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        _blockSize = blockSize;
        _key = new ulong[capacity];
        _serial = new long[capacity];
        _parentSerial = new long[capacity];
        _tokens = new int[checked(capacity * blockSize)];
        _prev = new int[capacity];
        _next = new int[capacity];
        _evictable = new bool[capacity];
    }

    /// <summary>Blocks that hold registered contents (held by a sequence or evictable).</summary>
    public int RegisteredCount => _byKey.Count;

    /// <summary>Registered blocks no sequence holds: reusable by a hit, or evicted when the pool needs a block.</summary>
    public int EvictableCount { get; private set; }

    /// <summary>Blocks evicted so far (their contents dropped to make room).</summary>
    public long Evictions { get; private set; }

    /// <summary>The key of a full block: XxHash64 of its ids (little-endian int32) seeded with the previous block's key
    /// (0 for the first block).</summary>
    public static ulong Key(ulong previousKey, ReadOnlySpan<int> tokens) =>
        XxHash64.HashToUInt64(MemoryMarshal.AsBytes(tokens), unchecked((long)previousKey));

    /// <summary>Whether <paramref name="block"/> holds registered contents.</summary>
    public bool IsRegistered(int block) => _serial[block] != 0;

    /// <summary>Whether <paramref name="block"/> is registered and held by no sequence.</summary>
    public bool IsEvictable(int block) => _evictable[block];

    /// <summary>The registration of <paramref name="block"/> (0 when it holds none): what a following block's
    /// registration names as its parent.</summary>
    public long SerialOf(int block) => _serial[block];

    /// <summary>The key a registered block was stored under.</summary>
    public ulong KeyOf(int block) => _key[block];

    /// <summary>The token ids a registered block holds.</summary>
    public ReadOnlySpan<int> TokensOf(int block) => _tokens.AsSpan(block * _blockSize, _blockSize);

    /// <summary>
    /// The block registered under <paramref name="key"/> whose tokens equal <paramref name="tokens"/> and whose
    /// predecessor was registration <paramref name="parentSerial"/>, or -1.
    /// </summary>
    public int Find(ulong key, long parentSerial, ReadOnlySpan<int> tokens)
    {
        if (!_byKey.TryGetValue(key, out int block)) return None;
        return _parentSerial[block] == parentSerial && TokensOf(block).SequenceEqual(tokens) ? block : None;
    }

    /// <summary>
    /// Registers a freshly filled block held by a sequence. Returns false (and registers nothing) when the key is
    /// already taken: the first registration stays, so the index never has two blocks for one prefix.
    /// </summary>
    public bool Register(int block, ulong key, long parentSerial, ReadOnlySpan<int> tokens)
    {
        if (tokens.Length != _blockSize) throw new ArgumentException($"A block holds {_blockSize} tokens, got {tokens.Length}.", nameof(tokens));
        if (_serial[block] != 0) throw new InvalidOperationException($"Block {block} is already registered.");
        if (!_byKey.TryAdd(key, block)) return false;
        _key[block] = key;
        _serial[block] = _nextSerial++;
        _parentSerial[block] = parentSerial;
        tokens.CopyTo(_tokens.AsSpan(block * _blockSize, _blockSize));
        return true;
    }

    /// <summary>The last holder of a registered block let go: it joins the evictable list as most recently used.</summary>
    public void MakeEvictable(int block)
    {
        if (_serial[block] == 0 || _evictable[block]) throw new InvalidOperationException($"Block {block} is not a held registered block.");
        _evictable[block] = true;
        _prev[block] = _tail;
        _next[block] = None;
        if (_tail == None) _head = block;
        else _next[_tail] = block;
        _tail = block;
        EvictableCount++;
    }

    /// <summary>A hit takes an evictable block back: it leaves the evictable list and keeps its contents.</summary>
    public void Take(int block)
    {
        if (!_evictable[block]) throw new InvalidOperationException($"Block {block} is not evictable.");
        Unlink(block);
    }

    /// <summary>Evicts the least recently used evictable block: its contents are forgotten and it is returned for reuse.</summary>
    public int EvictOldest()
    {
        int block = _head;
        if (block == None) throw new InvalidOperationException("No block is evictable.");
        Unlink(block);
        _byKey.Remove(_key[block]);
        _serial[block] = 0;
        Evictions++;
        return block;
    }

    private void Unlink(int block)
    {
        int prev = _prev[block], next = _next[block];
        if (prev == None) _head = next;
        else _next[prev] = next;
        if (next == None) _tail = prev;
        else _prev[next] = prev;
        _evictable[block] = false;
        EvictableCount--;
    }
}
