namespace PagedSim.Allocator.Scheduling;

/// <summary>
/// Continuous batching over a <see cref="KvCacheManager"/> (as vLLM schedules): requests wait in arrival order; one
/// is admitted when its prompt's blocks plus a watermark are free; a running request that needs a block when none is
/// free preempts the newest running request, which later restarts by recomputing its prompt and the tokens it had.
/// Pure policy over lengths: a model runner and the simulator drive the same object.
/// </summary>
/// <remarks>
/// Each step every running request gains one token (the one that step produces); a request admitted in a step
/// prefills its prompt and produces its first token in that step. Within a step, running requests are served oldest
/// first; no request is admitted in a step that preempted one. <see cref="Advance"/> jumps over quiet steps (where
/// no request needs a block, finishes or could be admitted), so a simulation costs per event, not per token; a runner
/// calls <c>Advance(1)</c> and then <see cref="Sync"/> so the cache's block table is current for the forward pass.
/// A request may arrive later than the start: after another request finishes (the next turn of a conversation,
/// optionally some steps later); the waiting queue is ordered by arrival step, then request number. A request
/// submitted with its prompt's token ids is admitted through <see cref="KvCacheManager.TryAdmit"/>, so with prefix
/// caching its prompt's cached full blocks are reused and only the rest is prefilled
/// (<see cref="CachedTokensOf"/>).
/// </remarks>
public sealed class Scheduler
{
    private const int Waiting = 0, Running = 1, Done = 2;

    private readonly KvCacheManager _cache;
    private readonly GrowingSequences _growth;
    private readonly int _watermarkBlocks;
    private readonly PriorityQueue<int, (long Ready, int Request)> _waiting = new();
    private readonly PriorityQueue<int, (long Ready, int Request)> _arrivals = new(); // due after a predecessor finished
    private readonly Dictionary<int, List<int>> _dependents = [];
    private readonly SortedSet<int> _running = [];
    private readonly List<int> _admitted = [], _preempted = [], _finished = [], _arrived = [];
    private readonly List<int> _prompt = [], _target = [], _generated = [], _state = [], _cached = [];
    private readonly List<int[]?> _ids = [];
    private readonly List<long> _ready = [], _delay = [];
    private bool _dirty;

    /// <summary>Creates a scheduler that admits into <paramref name="cache"/>.</summary>
    public Scheduler(KvCacheManager cache, SchedulerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        Options = options ?? SchedulerOptions.Default;
        Options.Validate(cache.Options.MaxSequenceLength);
        _cache = cache;
        _growth = new GrowingSequences(cache);
        _watermarkBlocks = (int)(Options.WatermarkFraction * cache.TotalBlocks);
    }

    /// <summary>The admission limits.</summary>
    public SchedulerOptions Options { get; }

    /// <summary>The last step processed (0 before the first).</summary>
    public long CurrentStep { get; private set; }

    /// <summary>Requests in the batch (those that finished in the last step included).</summary>
    public int RunningCount => _running.Count;

    /// <summary>Requests waiting to start or to be recomputed.</summary>
    public int WaitingCount => _waiting.Count;

    /// <summary>Preemptions so far.</summary>
    public int Preemptions { get; private set; }

    /// <summary>True when every submitted request has finished and its blocks are back.</summary>
    public bool IsIdle => _running.Count == 0 && _waiting.Count == 0 && _finished.Count == 0 && _arrivals.Count == 0;

    /// <summary>Tokens admitted so far, summed over admissions (recomputations after preemption included).</summary>
    public long AdmittedTokens { get; private set; }

    /// <summary>Of <see cref="AdmittedTokens"/>, those whose K/V came from the prefix cache (no prefill).</summary>
    public long CachedTokens { get; private set; }

    /// <summary>Requests that arrived in the last step (those submitted to follow another request; the others
    /// arrive at the start).</summary>
    public IReadOnlyList<int> Arrived => _arrived;

    /// <summary>Tokens of a request's latest admission that came from the prefix cache: its prefill starts there.</summary>
    public int CachedTokensOf(int request) => _cached[request];

    /// <summary>Running requests, oldest first.</summary>
    public IReadOnlyCollection<int> RunningRequests => _running;

    /// <summary>Requests admitted in the last step.</summary>
    public IReadOnlyList<int> Admitted => _admitted;

    /// <summary>Requests preempted in the last step.</summary>
    public IReadOnlyList<int> Preempted => _preempted;

    /// <summary>Requests that produced their last token in the last step.</summary>
    public IReadOnlyList<int> Finished => _finished;

    /// <summary>Tokens the batch gains per quiet step (every running request).</summary>
    public long GrowthRate => _growth.GrowingCount;

    /// <summary>Reserved slots that hold a token, exact even between syncs.</summary>
    public long FilledSlots => _cache.FilledSlots + _growth.UnsyncedTokens(CurrentStep);

    /// <summary>Queues a request; returns its number (0, 1, 2, … in arrival order).</summary>
    /// <param name="promptTokens">Prompt length.</param>
    /// <param name="maxNewTokens">Tokens it generates at most (a simulation passes the exact output length; a
    /// runner passes the room left and calls <see cref="Finish"/> at the stop token).</param>
    public int Submit(int promptTokens, int maxNewTokens) => Submit(promptTokens, maxNewTokens, null);

    /// <summary>Queues a request that may bring its prompt's ids and arrive after another request finishes.</summary>
    /// <param name="promptTokens">Prompt length.</param>
    /// <param name="maxNewTokens">Tokens it generates at most.</param>
    /// <param name="promptIds">The prompt's token ids (for prefix caching), or null.</param>
    /// <param name="after">An earlier request whose finish this one waits for (the previous turn), or -1 to arrive at the start.</param>
    /// <param name="delaySteps">Steps between that finish and the arrival: arriving in step finish + 1 + delay.</param>
    public int Submit(int promptTokens, int maxNewTokens, int[]? promptIds, int after = -1, long delaySteps = 0)
    {
        if (promptIds is not null && promptIds.Length != promptTokens)
            throw new ArgumentException($"{promptIds.Length} prompt ids given for {promptTokens} prompt tokens.", nameof(promptIds));
        if (after < -1 || after >= _prompt.Count) throw new ArgumentOutOfRangeException(nameof(after), after, "A request can only follow an earlier one.");
        ArgumentOutOfRangeException.ThrowIfNegative(delaySteps);
        if (promptTokens <= 0) throw new ArgumentOutOfRangeException(nameof(promptTokens), promptTokens, "Prompt length must be positive.");
        if (maxNewTokens <= 0) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), maxNewTokens, "Output length must be positive.");
        if ((long)promptTokens + maxNewTokens > _cache.Options.MaxSequenceLength)
            throw new ArgumentOutOfRangeException(nameof(maxNewTokens), maxNewTokens, $"Prompt plus output exceed the max sequence length {_cache.Options.MaxSequenceLength}.");
        int request = _prompt.Count;
        _prompt.Add(promptTokens);
        _target.Add(promptTokens + maxNewTokens);
        _generated.Add(0);
        _state.Add(Waiting);
        _ids.Add(promptIds);
        _cached.Add(0);
        _ready.Add(0);
        _delay.Add(delaySteps);
        if (after >= 0 && _state[after] != Done)
        {
            if (!_dependents.TryGetValue(after, out List<int>? list)) _dependents[after] = list = [];
            list.Add(request);
            return request;
        }
        _waiting.Enqueue(request, (0, request));
        _dirty = true;
        return request;
    }

    /// <summary>Tokens a request has generated so far (kept across preemption).</summary>
    public int Generated(int request) =>
        _state[request] == Running ? _growth.Tokens(request, CurrentStep) - _prompt[request] : _generated[request];

    /// <summary>The cache sequence of a running request (its row: <see cref="KvCacheManager.RowOf"/>).</summary>
    public int SequenceOf(int request) =>
        _state[request] == Running ? _growth.SequenceOf(request) : throw new ArgumentException($"Request {request} is not running.", nameof(request));

    /// <summary>Advances to the next step where anything can happen, at most <paramref name="maxSteps"/> steps.</summary>
    public SchedulerStep Advance(long maxSteps = 1)
    {
        if (maxSteps <= 0) throw new ArgumentOutOfRangeException(nameof(maxSteps), maxSteps, "Advance at least one step.");
        ReleaseFinished();
        _admitted.Clear();
        _preempted.Clear();
        _arrived.Clear();
        long first = CurrentStep + 1;
        if (IsIdle) return new SchedulerStep(CurrentStep, 0, 0, 0, 0);
        long eventStep;
        if (_dirty) eventStep = first;
        else
        {
            bool any = _growth.TryPeekStep(out eventStep);
            if (_arrivals.TryPeek(out _, out (long Ready, int Request) next))
                (eventStep, any) = (any ? Math.Min(eventStep, next.Ready) : next.Ready, true);
            if (!any) return new SchedulerStep(CurrentStep, 0, 0, 0, 0);
        }
        if (eventStep - CurrentStep > maxSteps)
        {
            CurrentStep += maxSteps;
            return new SchedulerStep(CurrentStep, maxSteps, 0, 0, 0);
        }
        CurrentStep = eventStep;
        ProcessStep(eventStep);
        return new SchedulerStep(eventStep, eventStep - first + 1, _admitted.Count, _preempted.Count, _finished.Count);
    }

    /// <summary>Tells the cache every running request's tokens up to the current step.</summary>
    public void Sync()
    {
        foreach (int r in _running) _growth.Sync(r, CurrentStep);
    }

    /// <summary>Ends a running request early (a runner saw its stop token); its blocks return now.</summary>
    public void Finish(int request)
    {
        if (_state[request] != Running) throw new ArgumentException($"Request {request} is not running.", nameof(request));
        if (_finished.Contains(request)) return;
        _generated[request] = _growth.Tokens(request, CurrentStep) - _prompt[request];
        Release(request);
        ScheduleDependents(request, CurrentStep);
    }

    private void ProcessStep(long step)
    {
        while (_growth.TryTake(step, out int r))
        {
            if (_growth.NeedsBlock(r, step))
            {
                while (_cache.FreeBlocks == 0)
                {
                    int victim = _running.Max;
                    Preempt(victim, step);
                    if (victim == r) break;
                }
                if (_state[r] != Running) continue;
                _growth.Sync(r, step);
            }
            if (_growth.Finishes(r, step)) MarkFinished(r, step);
            else _growth.Schedule(r);
        }
        while (_arrivals.TryPeek(out int a, out (long Ready, int Request) key) && key.Ready <= step)
        {
            _arrivals.Dequeue();
            _waiting.Enqueue(a, key);
            _arrived.Add(a);
        }
        if (_preempted.Count == 0) AdmitWaiting(step);
        _dirty = _preempted.Count > 0 || _admitted.Count > 0 || _finished.Count > 0;
    }

    private void AdmitWaiting(long step)
    {
        long stepTokens = _running.Count;
        while (_waiting.TryPeek(out int w, out _))
        {
            int tokens = _prompt[w] + _generated[w];
            if (_running.Count >= Options.MaxRunning || stepTokens + tokens > Options.MaxTokensPerStep) break;
            int[]? ids = _ids[w];
            int sequence, cached = 0;
            if (ids is null || !_cache.Options.PrefixCaching)
            {
                if (!_cache.CanAdmit(tokens + 1, _watermarkBlocks))
                {
                    ThrowIfNeverFits(w, tokens);
                    break;
                }
                sequence = _cache.Admit(tokens);
            }
            else if (!_cache.TryAdmit(tokens, ids, 1, _watermarkBlocks, out sequence, out cached))
            {
                ThrowIfNeverFits(w, tokens);
                break;
            }
            _waiting.Dequeue();
            _cached[w] = cached;
            AdmittedTokens += tokens;
            CachedTokens += cached;
            _state[w] = Running;
            _running.Add(w);
            _admitted.Add(w);
            stepTokens += tokens;
            _growth.Start(w, sequence, tokens, step, _target[w], step);
            _growth.Sync(w, step);
            if (_growth.Finishes(w, step)) MarkFinished(w, step);
            else _growth.Schedule(w);
        }
    }

    private void ThrowIfNeverFits(int request, int tokens)
    {
        if (_running.Count == 0 && _cache.UsedBlocks == 0)
            throw new RequestTooLargeException(request, tokens + 1, _cache.BlocksFor(tokens + 1) + _watermarkBlocks, _cache.TotalBlocks);
    }

    private void ScheduleDependents(int request, long step)
    {
        if (!_dependents.Remove(request, out List<int>? list)) return;
        foreach (int d in list)
        {
            _ready[d] = step + 1 + _delay[d];
            _arrivals.Enqueue(d, (_ready[d], d));
        }
    }

    private void Preempt(int victim, long step)
    {
        // The victim has not produced this step's token yet: it keeps what it had after the previous step.
        _generated[victim] = _growth.Tokens(victim, step - 1) - _prompt[victim];
        Release(victim);
        _state[victim] = Waiting;
        _waiting.Enqueue(victim, (_ready[victim], victim));
        _preempted.Add(victim);
        Preemptions++;
    }

    private void MarkFinished(int request, long step)
    {
        _growth.Sync(request, step);
        _generated[request] = _growth.Tokens(request, step) - _prompt[request];
        _finished.Add(request);
        ScheduleDependents(request, step);
    }

    private void ReleaseFinished()
    {
        foreach (int r in _finished) Release(r);
        _finished.Clear();
    }

    private void Release(int request)
    {
        _cache.Free(_growth.SequenceOf(request));
        _growth.Stop(request);
        _running.Remove(request);
        _state[request] = Done;
        _dirty = true;
    }
}
