namespace PagedSim.Allocator.Simulation;

/// <summary>
/// The naive baseline through <see cref="NaiveAllocator"/>: every request reserves max-length slots when it starts.
/// Static: all reserve at once and keep their reservations until the batch ends (one tensor, as llama3-naive.py).
/// Continuous: first come, first served while a reservation fits; a reservation returns when its request ends, and no
/// one is ever preempted (the reservation already covers the longest possible sequence).
/// </summary>
internal static class NaiveReplay
{
    public static RunResult Run(SimulationConfig config, IReadOnlyList<TraceRequest> requests, bool keepTimeline, StepTimeModel? time)
    {
        MemoryModel memory = config.Memory;
        KvLayout layout = memory.Layout;
        int maxLength = config.MaxSequenceLength;
        (long stepTokens, long sequences) = Simulator.StepShape(config, requests);
        long overhead = memory.OverheadBytes(stepTokens, sequences);
        long slots = memory.NaiveSlots(stepTokens, sequences);
        var naive = new NaiveAllocator(slots, maxLength);
        var recorder = new RunRecorder(layout.BytesPerToken, keepTimeline);
        long capacity = slots / maxLength;
        RunResult Result(bool fits, LimitReason reason, string? failure, int completed, long? seedFragmented) =>
            new("naive", fits, reason, failure, requests.Count, completed, recorder.Steps, 0, capacity,
                capacity * maxLength * layout.BytesPerToken, overhead, recorder.Peak, recorder.Average, seedFragmented, recorder.Timeline);

        if (slots == 0)
            return Result(false, LimitReason.WeightsDoNotFit, $"weights ({ByteSize.Gb(memory.WeightBytes)}) and overhead ({ByteSize.Gb(overhead)}) leave no room for KV cache on {ByteSize.Gb(memory.Gpu.TotalMemoryBytes)}", 0, null);
        string TooLarge(TraceRequest r) =>
            $"request {r.Id}: one reservation of {maxLength} tokens ({ByteSize.Gb((long)maxLength * layout.BytesPerToken)}) does not fit in {ByteSize.Gb(slots * layout.BytesPerToken)}";
        if (config.Mode == SimulationMode.Continuous)
        {
            if (capacity == 0) return Result(false, LimitReason.MaxLengthReservations, TooLarge(requests[0]), 0, null);
            var timing = time is null ? null : new TimeRecorder(time, requests);
            int done = Continuous(config, requests, naive, recorder, timing);
            return Result(true, LimitReason.None, null, done, null) with { Timing = timing?.Result() };
        }

        for (int i = 0; i < requests.Count; i++)
        {
            if (!naive.CanReserve())
                return Result(false, LimitReason.MaxLengthReservations,
                    $"request {requests[i].Id} at step 1: {i} reservation(s) of {maxLength:N0} tokens fill the {ByteSize.Gb(slots * layout.BytesPerToken)} left beside weights and the overhead of this {requests.Count:N0}-request batch (activations grow with the batch, so a smaller batch may fit one more)", 0, null);
            naive.Reserve(requests[i].PromptTokens);
        }
        Static(config, requests, naive, recorder);
        long seedFragmented = 0;
        foreach (TraceRequest r in requests) seedFragmented += (long)(maxLength - (r.OutputTokens - 1)) * layout.BytesPerToken;
        RunResult run = Result(true, LimitReason.None, null, requests.Count, seedFragmented);
        return run with { Timing = Simulator.StaticTime(config, requests, run, time) };
    }

    private static void Static(SimulationConfig config, IReadOnlyList<TraceRequest> requests, NaiveAllocator naive, RunRecorder recorder)
    {
        // Request i gains a token at steps growFrom .. growFrom + output − 1; the growth rate changes only there.
        int shortest = requests.Min(r => r.PromptTokens);
        var changes = new SortedDictionary<long, int>();
        long filled = 0, end = 1;
        foreach (TraceRequest r in requests)
        {
            long growFrom = config.SeedCompatible ? 1 + r.PromptTokens - shortest : 1;
            long stop = growFrom + r.OutputTokens;
            changes[growFrom] = changes.GetValueOrDefault(growFrom) + 1;
            changes[stop] = changes.GetValueOrDefault(stop) - 1;
            filled += r.PromptTokens;
            end = Math.Max(end, stop - 1);
        }
        long rate = 0, previous = 0;
        foreach ((long step, int delta) in changes)
        {
            if (step > end) break;
            filled += rate * (step - previous - 1);
            rate += delta;
            filled += rate;
            recorder.Record(step, naive.Count, naive.ReservedSlots, filled, rate, naive.Count, 0);
            previous = step;
        }
        if (previous < end) recorder.Record(end, naive.Count, naive.ReservedSlots, filled + rate * (end - previous), rate, naive.Count, 0);
    }

    private static int Continuous(SimulationConfig config, IReadOnlyList<TraceRequest> requests, NaiveAllocator naive, RunRecorder recorder,
        TimeRecorder? time)
    {
        var options = config.SchedulerOptions;
        var ends = new PriorityQueue<int, long>();
        var releasing = new List<int>();
        var reservation = new int[requests.Count];
        var constant = new long[requests.Count];
        long filledConstant = 0; // Σ over running of (prompt − start + 1): filled(step) = constant + running × step
        int next = 0, completed = 0;
        long step = 0, previousFilled = 0;
        bool dirty = true;
        while (true)
        {
            foreach (int r in releasing)
            {
                naive.Free(reservation[r]);
                filledConstant -= constant[r];
            }
            dirty |= releasing.Count > 0;
            releasing.Clear();
            if (naive.Count == 0 && next == requests.Count) break;
            long at = step + 1;
            if (!dirty && ends.TryPeek(out _, out long endStep)) at = endStep;
            time?.Quiet(at - step - 1, naive.Count, previousFilled);
            step = at;
            int admitted = 0;
            long stepTokens = naive.Count;
            while (next < requests.Count && naive.Count < options.MaxRunning && naive.CanReserve()
                && stepTokens + requests[next].PromptTokens <= options.MaxTokensPerStep)
            {
                TraceRequest r = requests[next];
                reservation[next] = naive.Reserve(r.PromptTokens);
                constant[next] = r.PromptTokens - step + 1;
                filledConstant += constant[next];
                ends.Enqueue(next, step + r.OutputTokens - 1);
                stepTokens += r.PromptTokens;
                next++;
                admitted++;
            }
            while (ends.TryPeek(out int r, out long e) && e == step)
            {
                ends.Dequeue();
                releasing.Add(r);
                completed++;
            }
            long filled = filledConstant + naive.Count * step;
            recorder.Record(step, naive.Count, naive.ReservedSlots, filled, naive.Count, naive.Count, requests.Count - next);
            if (time is not null)
            {
                long admittedTokens = 0;
                for (int a = next - admitted; a < next; a++)
                {
                    time.Admit(requests[a].PromptTokens);
                    admittedTokens += requests[a].PromptTokens + 1;
                }
                long decoding = naive.Count - admitted;
                time.EndStep(decoding, filled - admittedTokens - decoding);
                for (int a = next - admitted; a < next; a++) time.FirstToken(a);
                foreach (int r in releasing) time.Finish(r);
                previousFilled = filled;
            }
            dirty = admitted > 0 || releasing.Count > 0;
        }
        return completed;
    }
}
