namespace PagedSim.Allocator.Scheduling;

/// <summary>
/// Sequences that grow by one token per step, tracked lazily so a simulation can jump from event to event: the cache
/// hears of a sequence's new tokens only when it needs its next block, when it finishes, or on <see cref="Sync"/>.
/// Requests are numbered 0, 1, 2, … by the caller; a lower number is an older request.
/// </summary>
/// <remarks>
/// A started request holds <c>base</c> tokens and, from step <c>growFrom</c> on, gains one token per step until it
/// holds <c>target</c>. Its next event is the earliest of: the step it starts growing, the step its tokens first
/// exceed its blocks, the step it reaches its target. Events come out ordered by step, then by request (oldest first),
/// which is the order a token-by-token loop over the running requests would meet them.
/// </remarks>
internal sealed class GrowingSequences
{
    private readonly KvCacheManager _cache;
    private readonly PriorityQueue<(int Request, int Epoch), (long Step, int Request)> _events = new(EventOrder.Instance);
    private int[] _sequence = [];
    private int[] _base = [];
    private int[] _target = [];
    private int[] _synced = [];
    private long[] _growFrom = [];
    private int[] _epoch = [];
    private bool[] _active = [];
    private bool[] _growing = [];
    private long _growingCount;
    private long _growingConstant; // Σ over growing requests of (base − growFrom + 1 − synced)

    public GrowingSequences(KvCacheManager cache) => _cache = cache;

    /// <summary>Requests gaining a token each step.</summary>
    public long GrowingCount => _growingCount;

    /// <summary>Tokens not yet told to the cache, summed over active requests, at <paramref name="step"/>.</summary>
    public long UnsyncedTokens(long step) => _growingConstant + _growingCount * step;

    /// <summary>The cache sequence id of an active request.</summary>
    public int SequenceOf(int request) => _sequence[request];

    /// <summary>Whether the request is started and not stopped.</summary>
    public bool IsActive(int request) => request < _active.Length && _active[request];

    /// <summary>Tokens the request holds after <paramref name="step"/>.</summary>
    public int Tokens(int request, long step)
    {
        long grown = Math.Max(0, step - _growFrom[request] + 1);
        return (int)Math.Min(_target[request], _base[request] + grown);
    }

    /// <summary>Starts tracking a request whose cache sequence already holds <paramref name="baseTokens"/> tokens;
    /// the caller then syncs it if due and calls <see cref="Schedule"/>.</summary>
    /// <param name="request">The request's number.</param>
    /// <param name="sequence">Its cache sequence id.</param>
    /// <param name="baseTokens">Tokens the sequence holds now.</param>
    /// <param name="growFrom">The first step at which it gains a token.</param>
    /// <param name="targetTokens">Tokens at which it finishes.</param>
    /// <param name="now">The current step: growth already counts when <paramref name="growFrom"/> is not later.</param>
    public void Start(int request, int sequence, int baseTokens, long growFrom, int targetTokens, long now)
    {
        EnsureCapacity(request + 1);
        _sequence[request] = sequence;
        _base[request] = baseTokens;
        _synced[request] = baseTokens;
        _target[request] = targetTokens;
        _growFrom[request] = growFrom;
        _active[request] = true;
        _growing[request] = false;
        if (growFrom <= now) MarkGrowing(request);
    }

    /// <summary>Stops tracking (finished or preempted): pending events of the request are dropped.</summary>
    public void Stop(int request)
    {
        if (!_active[request]) return;
        if (_growing[request])
        {
            _growingCount--;
            _growingConstant -= _base[request] - _growFrom[request] + 1 - _synced[request];
            _growing[request] = false;
        }
        _active[request] = false;
        _epoch[request]++;
    }

    /// <summary>The step of the next pending event, if any.</summary>
    public bool TryPeekStep(out long step)
    {
        while (_events.TryPeek(out (int Request, int Epoch) e, out (long Step, int Request) key))
        {
            if (_active[e.Request] && _epoch[e.Request] == e.Epoch)
            {
                step = key.Step;
                return true;
            }
            _events.Dequeue();
        }
        step = 0;
        return false;
    }

    /// <summary>Takes the next event if it falls on <paramref name="step"/>; the request's growth is accounted from then.</summary>
    public bool TryTake(long step, out int request)
    {
        request = -1;
        if (!TryPeekStep(out long next) || next != step) return false;
        request = _events.Dequeue().Request;
        if (!_growing[request] && step >= _growFrom[request]) MarkGrowing(request);
        return true;
    }

    private void MarkGrowing(int request)
    {
        _growing[request] = true;
        _growingCount++;
        _growingConstant += _base[request] - _growFrom[request] + 1 - _synced[request];
    }

    /// <summary>Whether the request's tokens at <paramref name="step"/> exceed the blocks it holds.</summary>
    public bool NeedsBlock(int request, long step) =>
        Tokens(request, step) > (long)_cache.Table(_sequence[request]).BlockCount * _cache.BlockSize;

    /// <summary>Whether the request reaches its target at <paramref name="step"/>.</summary>
    public bool Finishes(int request, long step) => Tokens(request, step) >= _target[request];

    /// <summary>Tells the cache the request's tokens up to <paramref name="step"/>; allocates its next block if due.</summary>
    public void Sync(int request, long step)
    {
        int delta = Tokens(request, step) - _synced[request];
        if (delta <= 0) return;
        _cache.Append(_sequence[request], delta);
        _synced[request] += delta;
        if (_growing[request]) _growingConstant -= delta;
    }

    /// <summary>Queues the request's next event after it has been handled (and synced where a block was due).</summary>
    public void Schedule(int request)
    {
        long growFrom = _growFrom[request];
        int b = _base[request];
        long capacity = (long)_cache.Table(_sequence[request]).BlockCount * _cache.BlockSize;
        long needStep = growFrom + capacity - b;              // tokens first reach capacity + 1
        long finishStep = growFrom + _target[request] - b - 1; // tokens reach the target
        long next = Math.Min(needStep, finishStep);
        if (!_growing[request]) next = Math.Min(next, growFrom);
        _events.Enqueue((request, _epoch[request]), (next, request));
    }

    private void EnsureCapacity(int n)
    {
        if (n <= _sequence.Length) return;
        int size = Math.Max(n, Math.Max(16, _sequence.Length * 2));
        Array.Resize(ref _sequence, size);
        Array.Resize(ref _base, size);
        Array.Resize(ref _target, size);
        Array.Resize(ref _synced, size);
        Array.Resize(ref _growFrom, size);
        Array.Resize(ref _epoch, size);
        Array.Resize(ref _active, size);
        Array.Resize(ref _growing, size);
    }
}
