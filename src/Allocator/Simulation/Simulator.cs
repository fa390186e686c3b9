using PagedSim.Allocator.Scheduling;

namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Replays a trace through the real allocators — <see cref="KvCacheManager"/> driven by <see cref="StaticBatch"/> or
/// <see cref="Scheduler"/>, and <see cref="NaiveAllocator"/> — jumping from event to event (block boundaries, request
/// ends, admissions), never token by token.
/// </summary>
public static class Simulator
{
    /// <summary>Largest pool simulated (its bookkeeping takes about 12 bytes a block).</summary>
    public const int MaxBlocks = 1 << 25;

    /// <summary>Replays <paramref name="requests"/> through the paged cache; with <paramref name="predictTime"/> it
    /// also predicts the run's time (<see cref="RunResult.Timing"/>).</summary>
    /// <param name="config">The setup.</param>
    /// <param name="requests">The requests, in arrival order.</param>
    /// <param name="keepTimeline">Record the state after every processed step.</param>
    /// <param name="thinkSteps">Null: every request arrives at the start; else (continuous mode) each later turn of a
    /// conversation arrives this many steps after the previous one finishes (<see cref="TraceArrivals"/>).</param>
    /// <param name="predictTime">Also predict the run's time.</param>
    public static RunResult RunPaged(SimulationConfig config, IReadOnlyList<TraceRequest> requests, bool keepTimeline = false, long? thinkSteps = null, bool predictTime = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        MemoryModel memory = config.Memory;
        KvLayout layout = memory.Layout;
        (long stepTokens, long sequences) = StepShape(config, requests);
        long overhead = memory.OverheadBytes(stepTokens, sequences);
        long budget = memory.KvBudgetBytes(stepTokens, sequences);
        long blockBytes = layout.BytesPerBlock(config.BlockSize);
        int blocks = config.SeedCompatible ? config.SeedPoolBlocks : memory.PagedBlocks(config.BlockSize, stepTokens, sequences);
        if (blocks > MaxBlocks)
            throw new ArgumentException($"A pool of {blocks:N0} blocks is too large to simulate (at most {MaxBlocks:N0}); use a larger block size.", nameof(config));
        var recorder = new RunRecorder(layout.BytesPerToken, keepTimeline);
        PrefixCacheStats? prefix = null;
        RunResult Result(bool fits, LimitReason reason, string? failure, int completed, int preemptions, long? seedFragmented) =>
            new("paged", fits, reason, failure, requests.Count, completed, recorder.Steps, preemptions, blocks,
                (long)blocks * blockBytes, overhead, recorder.Peak, recorder.Average, seedFragmented, recorder.Timeline, prefix);

        if (budget <= 0)
            return Result(false, LimitReason.WeightsDoNotFit, $"weights ({ByteSize.Gb(memory.WeightBytes)}) and overhead ({ByteSize.Gb(overhead)}) leave no room for KV cache on {ByteSize.Gb(memory.Gpu.TotalMemoryBytes)}", 0, 0, null);
        if ((long)blocks * blockBytes > budget || blocks == 0)
            return Result(false, LimitReason.Memory, config.SeedCompatible
                ? $"the seed's pool of {blocks} blocks ({ByteSize.Gb((long)blocks * blockBytes)}) does not fit in the {ByteSize.Gb(budget)} left beside weights and overhead"
                : $"not one block of {ByteSize.Gb(blockBytes)} fits in the {ByteSize.Gb(budget)} left beside weights and overhead", 0, 0, null);

        var cache = new KvCacheManager(new KvCacheOptions(blocks, config.BlockSize, config.MaxSequenceLength,
            config.SeedCompatible ? AllocationPolicy.SeedCompatible : AllocationPolicy.Default, config.RandomSeed, config.PrefixCaching));
        StepTimeModel? time = predictTime ? StepTimeModel.For(memory) : null;
        if (config.Mode == SimulationMode.Continuous)
            return RunContinuous(config, requests, cache, recorder, thinkSteps, time is null ? null : new TimeRecorder(time, requests),
                (fits, reason, failure, completed, preemptions, seedFragmented, scheduler) =>
                {
                    if (config.PrefixCaching)
                        prefix = new PrefixCacheStats(scheduler.AdmittedTokens, scheduler.CachedTokens, cache.Prefix!.Evictions);
                    return Result(fits, reason, failure, completed, preemptions, seedFragmented);
                });
        RunResult run = RunStatic(config, requests, cache, layout, recorder, Result);
        return run with { Timing = StaticTime(config, requests, run, time) };
    }

    private delegate RunResult ContinuousResultFactory(bool fits, LimitReason reason, string? failure, int completed, int preemptions, long? seedFragmented, Scheduler scheduler);

    /// <summary>A static batch's time when it fits (not for the seed's position-by-position timeline).</summary>
    internal static TimingResult? StaticTime(SimulationConfig config, IReadOnlyList<TraceRequest> requests, RunResult run, StepTimeModel? time) =>
        time is null || !run.Fits || config.SeedCompatible || requests.Count == 0 ? null
            : StaticTiming.Run(time, [.. requests.Select(r => (r.PromptTokens, r.OutputTokens))], config.SchedulerOptions.MaxTokensPerStep, config.RaggedPrefill);

    private delegate RunResult ResultFactory(bool fits, LimitReason reason, string? failure, int completed, int preemptions, long? seedFragmented);

    private static RunResult RunStatic(SimulationConfig config, IReadOnlyList<TraceRequest> requests, KvCacheManager cache,
        KvLayout layout, RunRecorder recorder, ResultFactory result)
    {
        var pairs = new (int, int)[requests.Count];
        for (int i = 0; i < pairs.Length; i++) pairs[i] = (requests[i].PromptTokens, requests[i].OutputTokens);
        var batch = new StaticBatch(cache, pairs, config.SeedCompatible);
        LimitReason outOfBlocks = config.SeedCompatible ? LimitReason.SeedPool : LimitReason.Memory;
        int completed = 0;
        long? seedFragmented = null;
        while (!batch.OutOfMemory)
        {
            SchedulerStep step = batch.Advance();
            if (step.Steps == 0 || batch.OutOfMemory) break;
            recorder.Record(step.Step, cache.UsedBlocks, cache.ReservedSlots, batch.FilledSlots, batch.GrowthRate, batch.RunningCount, 0);
            completed += step.Finished;
            if (batch.RunningCount == batch.Finished.Count)
            {
                // The seed measures after its loop ends: the last requests to finish still hold all their blocks.
                batch.Sync();
                seedFragmented = cache.SeedFragmentedBytes(layout);
            }
        }
        if (!batch.OutOfMemory) return result(true, LimitReason.None, null, completed, 0, seedFragmented);
        string id = requests[batch.FailedRequest].Id;
        string failure = $"out of blocks at step {batch.FailedStep:N0}: request {id} needed {batch.FailedNeed:N0} block(s), all {cache.TotalBlocks:N0} were in use";
        return result(false, outOfBlocks, failure, completed, 0, null);
    }

    private static RunResult RunContinuous(SimulationConfig config, IReadOnlyList<TraceRequest> requests, KvCacheManager cache,
        RunRecorder recorder, long? thinkSteps, TimeRecorder? time, ContinuousResultFactory factory)
    {
        var scheduler = new Scheduler(cache, config.SchedulerOptions);
        RunResult result(bool fits, LimitReason reason, string? failure, int completed, int preemptions, long? seedFragmented) =>
            factory(fits, reason, failure, completed, preemptions, seedFragmented, scheduler);
        int[] after = TraceArrivals.Predecessors(requests, thinkSteps);
        for (int i = 0; i < requests.Count; i++)
        {
            TraceRequest r = requests[i];
            scheduler.Submit(r.PromptTokens, r.OutputTokens, config.PrefixCaching ? r.PromptIds : null, after[i], thinkSteps ?? 0);
        }
        int completed = 0;
        long previousStep = 0, previousRunning = 0, previousFilled = 0;
        try
        {
            while (true)
            {
                SchedulerStep step = scheduler.Advance(long.MaxValue);
                if (step.Steps == 0) break;
                long filled = scheduler.FilledSlots;
                recorder.Record(step.Step, cache.UsedBlocks, cache.ReservedSlots, filled, scheduler.GrowthRate,
                    scheduler.RunningCount, scheduler.WaitingCount);
                completed += step.Finished;
                if (time is null) continue;
                // Quiet steps since the last processed one: the same sequences, each one token longer a step (a
                // request's new token included, it reads what it held after the previous step).
                time.Quiet(step.Step - previousStep - 1, previousRunning, previousFilled);
                long admittedTokens = 0;
                foreach (int a in scheduler.Admitted)
                {
                    int tokens = requests[a].PromptTokens + scheduler.Generated(a) - 1; // prompt + tokens before a preemption
                    // Prefix-cache hits are read, not computed: the pass prices the uncached tokens.
                    time.Admit(tokens - scheduler.CachedTokensOf(a));
                    admittedTokens += tokens + 1;
                }
                long decoding = scheduler.RunningCount - scheduler.Admitted.Count;
                time.EndStep(decoding, filled - admittedTokens - decoding);
                foreach (int a in scheduler.Admitted) time.FirstToken(a);
                foreach (int f in scheduler.Finished) time.Finish(f);
                (previousStep, previousRunning, previousFilled) = (step.Step, scheduler.RunningCount, filled);
            }
        }
        catch (RequestTooLargeException e)
        {
            return result(false, LimitReason.RequestTooLarge, $"request {requests[e.Request].Id}: {e.Message}", completed, scheduler.Preemptions, null);
        }
        return result(true, LimitReason.None, null, completed, scheduler.Preemptions, null) with { Timing = time?.Result() };
    }

    /// <summary>Replays <paramref name="requests"/> through contiguous max-length reservations; with
    /// <paramref name="predictTime"/> it also predicts the run's time.</summary>
    public static RunResult RunNaive(SimulationConfig config, IReadOnlyList<TraceRequest> requests, bool keepTimeline = false, bool predictTime = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return NaiveReplay.Run(config, requests, keepTimeline, predictTime ? StepTimeModel.For(config.Memory) : null);
    }

    /// <summary>
    /// Tokens of the largest forward pass and sequences sampled per step, which size the overhead: continuous mode
    /// uses the scheduler's limits; the seed's first forward covers the shortest prompt of every request; otherwise
    /// static prefill is taken as chunked to the scheduler's tokens-per-step limit as given (8192 by default).
    /// </summary>
    public static (long TokensPerStep, long Sequences) StepShape(SimulationConfig config, IReadOnlyList<TraceRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(config);
        SchedulerOptions options = config.SchedulerOptions;
        if (config.Mode == SimulationMode.Continuous) return (options.MaxTokensPerStep, options.MaxRunning);
        long n = requests.Count;
        if (n == 0) return (0, 0);
        if (config.SeedCompatible) return (n * requests.Min(r => r.PromptTokens), n);
        long prompts = 0;
        foreach (TraceRequest r in requests) prompts += r.PromptTokens;
        return (Math.Max(n, Math.Min(prompts, config.PrefillChunkTokens)), n);
    }

    /// <summary>The first <paramref name="count"/> requests of a trace, starting over from its beginning when it is
    /// shorter (ids then get a "#k" suffix for the k-th repetition).</summary>
    public static IReadOnlyList<TraceRequest> FirstRequests(Trace trace, int count)
    {
        ArgumentNullException.ThrowIfNull(trace);
        int n = trace.Requests.Count;
        if (count <= n) return count == n ? trace.Requests : trace.Requests.Take(count).ToArray();
        var result = new TraceRequest[count];
        for (int i = 0; i < count; i++)
        {
            TraceRequest r = trace.Requests[i % n];
            result[i] = i < n ? r : r with { Id = $"{r.Id}#{i / n}" };
        }
        return result;
    }
}
