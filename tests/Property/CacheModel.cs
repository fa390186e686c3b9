using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>
/// An independent, deliberately slow model of the paged cache: plain dictionaries and lists, recomputing
/// everything (holders of a block, used blocks) from the tables each time. It predicts each step's outcome, and on
/// success learns which physical blocks the manager chose, checking they were free, then replays every token write
/// to check it lands in the right slot of a block no other table holds.
/// </summary>
internal sealed class CacheModel(int numBlocks, int blockSize, int maxLength, bool keepFirstBlock)
{
    private readonly Dictionary<int, List<int>> _tables = [];   // running and retired sequences
    private readonly Dictionary<int, int> _tokens = [];
    private readonly List<int> _running = [];                   // in admission order
    private readonly HashSet<int> _retired = [];
    private readonly Dictionary<int, int> _fill = [];           // tokens written into each held block

    public int NumBlocks => numBlocks;
    public int BlockSize => blockSize;
    public int MaxLength => maxLength;
    public IReadOnlyList<int> Running => _running;
    public IReadOnlyCollection<int> Retired => _retired;
    public IEnumerable<int> Known => _tables.Keys;
    public int MaxIdSeen { get; private set; } = -1;

    public IReadOnlyList<int> TableOf(int id) => _tables[id];
    public int TokensOf(int id) => _tokens[id];
    public int Fill(int block) => _fill.GetValueOrDefault(block);
    public bool IsRunning(int id) => _running.Contains(id);

    /// <summary>Blocks for a token count, by a formula unlike the manager's.</summary>
    public int BlocksFor(int tokens) => tokens / blockSize + (tokens % blockSize == 0 ? 0 : 1);

    public int Holders(int block) => _tables.Values.Count(t => t.Contains(block));

    public int UsedBlocks => _tables.Values.SelectMany(t => t).Distinct().Count();

    public int FreeBlocks => numBlocks - UsedBlocks;

    public long FilledSlots => _tables.Values.SelectMany(t => t).Distinct().Sum(b => (long)Fill(b));

    /// <summary>The id a step names: a running sequence by position, or a raw id for a negative target.</summary>
    public int Resolve(Op op) =>
        op.Target < 0 ? -op.Target - 2
        : _running.Count > 0 ? _running[op.Target % _running.Count]
        : op.Target;

    public Expected Predict(Op op, int id)
    {
        switch (op.Kind)
        {
            case OpKind.Admit:
            {
                if (op.Count <= 0 || op.Count > maxLength) return Expected.Invalid;
                int needed = BlocksFor(op.Count);
                return needed > FreeBlocks ? Expected.OutOfBlocks(needed, FreeBlocks) : Expected.Ok;
            }
            case OpKind.AppendOne:
            case OpKind.AppendMany:
            {
                int count = op.Kind == OpKind.AppendOne ? 1 : op.Count;
                if (count <= 0 || !IsRunning(id)) return Expected.Invalid;
                int tokens = _tokens[id];
                if ((long)tokens + count > maxLength) return Expected.Invalid;
                List<int> table = _tables[id];
                bool copy = tokens % blockSize != 0 && Holders(table[^1]) > 1;
                int needed = BlocksFor(tokens + count) - table.Count + (copy ? 1 : 0);
                return needed > FreeBlocks ? Expected.OutOfBlocks(needed, FreeBlocks) : Expected.Ok;
            }
            default:
                return IsRunning(id) ? Expected.Ok : Expected.Invalid;
        }
    }

    public void Admitted(int id, int prompt, ReadOnlySpan<int> blocks)
    {
        Assert.False(_tables.ContainsKey(id), $"Admit returned id {id}, which is still in use.");
        Assert.Equal(BlocksFor(prompt), blocks.Length);
        var table = new List<int>();
        _tables[id] = table;
        _tokens[id] = 0;
        foreach (int block in blocks) TakeFresh(table, block);
        _running.Add(id);
        MaxIdSeen = Math.Max(MaxIdSeen, id);
        Write(id, prompt);
    }

    public void Appended(int id, int count, BlockCopy copy, ReadOnlySpan<int> blocksAfter)
    {
        List<int> table = _tables[id];
        int tokens = _tokens[id];
        int partial = tokens % blockSize;
        int last = table[^1];
        if (partial != 0 && Holders(last) > 1)
        {
            // The shared partial block is about to be written: the manager must hand over a private copy.
            Assert.True(copy.IsNeeded, $"Appending to sequence {id} writes shared block {last} but no copy was asked for.");
            Assert.Equal(last, copy.Source);
            table.RemoveAt(table.Count - 1);
            TakeFresh(table, copy.Destination);
            _fill[copy.Destination] = partial; // the copied tokens
        }
        else
        {
            Assert.Equal(BlockCopy.None, copy);
            Assert.False(copy.IsNeeded);
        }
        Assert.Equal(BlocksFor(tokens + count), blocksAfter.Length);
        for (int b = 0; b < table.Count; b++) Assert.Equal(table[b], blocksAfter[b]);
        for (int b = table.Count; b < blocksAfter.Length; b++) TakeFresh(table, blocksAfter[b]);
        Write(id, count);
    }

    public void Forked(int parent, int child)
    {
        Assert.False(_tables.ContainsKey(child), $"Fork returned id {child}, which is still in use.");
        _tables[child] = [.. _tables[parent]];
        _tokens[child] = _tokens[parent];
        _running.Add(child);
        MaxIdSeen = Math.Max(MaxIdSeen, child);
    }

    public void Freed(int id)
    {
        _running.Remove(id);
        if (keepFirstBlock)
        {
            // The seed's policy: a finished request keeps its first block (and the tokens in it).
            _tables[id] = [_tables[id][0]];
            _tokens[id] = Math.Min(_tokens[id], blockSize);
            _retired.Add(id);
            return;
        }
        _tables.Remove(id);
        _tokens.Remove(id);
    }

    private void TakeFresh(List<int> table, int block)
    {
        Assert.InRange(block, 0, numBlocks - 1);
        Assert.True(Holders(block) == 0, $"Block {block} was handed out while {Holders(block)} table(s) hold it.");
        table.Add(block);
        _fill[block] = 0;
    }

    private void Write(int id, int count)
    {
        List<int> table = _tables[id];
        for (int i = 0; i < count; i++)
        {
            int position = _tokens[id];
            int block = table[position / blockSize];
            int holders = Holders(block);
            Assert.True(holders == 1, $"Token {position} of sequence {id} is written into block {block}, held by {holders} tables.");
            Assert.True(Fill(block) == position % blockSize,
                $"Token {position} of sequence {id} should go to slot {position % blockSize} of block {block}, which holds {Fill(block)} token(s).");
            _fill[block] = position % blockSize + 1;
            _tokens[id] = position + 1;
        }
    }
}
