namespace PagedSim.Allocator.Scheduling;

/// <summary>
/// The seed's experiment: every request starts at once and decodes to its end; nothing waits and nothing is
/// preempted, so running out of blocks is an out-of-memory failure (the seed raises).
/// </summary>
/// <remarks>
/// All prompts are cached before step 1. By default every request produces a token from step 1 on. With the seed's
/// timeline (<c>seedTimeline</c>) the batch advances one position per step as llama3-paged.py does: a request whose
/// prompt is longer than the shortest starts producing tokens that many steps later (its extra prompt tokens are fed
/// one per step but were reserved up front).
/// </remarks>
public sealed class StaticBatch
{
    private readonly KvCacheManager _cache;
    private readonly GrowingSequences _growth;
    private readonly List<int> _finished = [];
    private readonly int _count;
    private int _running;
    private bool _dirty; // the step after one with finishes is processed, so quiet spans never follow a free

    /// <summary>Starts the batch: caches every prompt, or fails at step 1 when the prompts alone do not fit.</summary>
    /// <param name="cache">The cache; its policy (default or seed-compatible) decides what finished requests keep.</param>
    /// <param name="requests">(prompt tokens, output tokens) of each request, oldest first.</param>
    /// <param name="seedTimeline">Advance by position, as the seed does (see remarks).</param>
    public StaticBatch(KvCacheManager cache, IReadOnlyList<(int Prompt, int Output)> requests, bool seedTimeline = false)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(requests);
        _cache = cache;
        _growth = new GrowingSequences(cache);
        _count = requests.Count;
        int shortest = int.MaxValue;
        foreach ((int prompt, _) in requests) shortest = Math.Min(shortest, prompt);
        for (int r = 0; r < requests.Count; r++)
        {
            (int prompt, int output) = requests[r];
            if (!cache.CanAdmit(prompt))
            {
                Fail(1, r, cache.BlocksFor(prompt));
                return;
            }
            int sequence = cache.Admit(prompt);
            long growFrom = seedTimeline ? 1 + prompt - shortest : 1;
            _growth.Start(r, sequence, prompt, growFrom, prompt + output, 0);
            _growth.Schedule(r);
            _running++;
        }
    }

    /// <summary>The last step processed (0 before the first).</summary>
    public long CurrentStep { get; private set; }

    /// <summary>Requests still decoding (those that finished in the last step included).</summary>
    public int RunningCount => _running;

    /// <summary>True once a request needed a block and none was free.</summary>
    public bool OutOfMemory { get; private set; }

    /// <summary>The step at which the batch ran out of blocks.</summary>
    public long FailedStep { get; private set; }

    /// <summary>The request that found no free block.</summary>
    public int FailedRequest { get; private set; } = -1;

    /// <summary>Blocks the failing request needed.</summary>
    public int FailedNeed { get; private set; }

    /// <summary>True when every request has finished (or the batch failed).</summary>
    public bool IsDone => OutOfMemory || (_running == 0 && _finished.Count == 0);

    /// <summary>Requests that produced their last token in the last step.</summary>
    public IReadOnlyList<int> Finished => _finished;

    /// <summary>Tokens the batch gains per quiet step (requests producing tokens).</summary>
    public long GrowthRate => _growth.GrowingCount;

    /// <summary>Reserved slots that hold a token, exact even between syncs.</summary>
    public long FilledSlots => _cache.FilledSlots + _growth.UnsyncedTokens(CurrentStep);

    /// <summary>Advances to the next step where a request needs a block, starts producing tokens or finishes; at
    /// most <paramref name="maxSteps"/> steps. Requests that finished in the previous step are freed first.</summary>
    public SchedulerStep Advance(long maxSteps = long.MaxValue)
    {
        if (maxSteps <= 0) throw new ArgumentOutOfRangeException(nameof(maxSteps), maxSteps, "Advance at least one step.");
        foreach (int r in _finished)
        {
            _cache.Free(_growth.SequenceOf(r));
            _growth.Stop(r);
            _running--;
        }
        _finished.Clear();
        long first = CurrentStep + 1;
        if (OutOfMemory || _running == 0) return new SchedulerStep(CurrentStep, 0, 0, 0, 0);
        long eventStep = first;
        if (!_dirty && !_growth.TryPeekStep(out eventStep)) return new SchedulerStep(CurrentStep, 0, 0, 0, 0);
        _dirty = false;
        if (eventStep - CurrentStep > maxSteps)
        {
            CurrentStep += maxSteps;
            return new SchedulerStep(CurrentStep, maxSteps, 0, 0, 0);
        }
        CurrentStep = eventStep;
        while (_growth.TryTake(eventStep, out int r))
        {
            if (_growth.NeedsBlock(r, eventStep))
            {
                if (_cache.FreeBlocks == 0)
                {
                    Fail(eventStep, r, 1);
                    break;
                }
                _growth.Sync(r, eventStep);
            }
            if (_growth.Finishes(r, eventStep))
            {
                _growth.Sync(r, eventStep);
                _finished.Add(r);
            }
            else _growth.Schedule(r);
        }
        _dirty = _finished.Count > 0;
        return new SchedulerStep(eventStep, eventStep - first + 1, 0, 0, _finished.Count);
    }

    /// <summary>Tells the cache every running request's tokens up to the current step (for the seed's fragmentation
    /// figure, or a runner's block table).</summary>
    public void Sync()
    {
        for (int r = 0; r < _count; r++)
            if (_growth.IsActive(r)) _growth.Sync(r, CurrentStep);
    }

    private void Fail(long step, int request, int needed)
    {
        OutOfMemory = true;
        FailedStep = step;
        FailedRequest = request;
        FailedNeed = needed;
    }
}
