using PagedSim.Allocator;
using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>State after one step.</summary>
internal readonly record struct StepState(long Step, int UsedBlocks, long FilledSlots, int Running, int Waiting);

/// <summary>
/// A plain token-by-token replay written independently of Scheduler/StaticBatch: every step, every running request
/// appends one token through <see cref="KvCacheManager.Append(int)"/>; preemption catches the allocator's
/// OutOfBlocksException. The event-driven code must produce exactly these states.
/// </summary>
internal static class TokenByTokenReference
{
    public static List<StepState> Continuous(IReadOnlyList<TraceRequest> requests, KvCacheManager cache, SchedulerOptions options, out int preemptions)
    {
        int n = requests.Count, watermark = (int)(options.WatermarkFraction * cache.TotalBlocks);
        var seq = new int[n];
        var generated = new int[n];
        var waiting = new SortedSet<int>(Enumerable.Range(0, n));
        var running = new SortedSet<int>();
        var finished = new List<int>();
        var states = new List<StepState>();
        preemptions = 0;
        for (long step = 1; ; step++)
        {
            foreach (int r in finished) cache.Free(seq[r]);
            finished.Clear();
            if (running.Count == 0 && waiting.Count == 0) break;
            bool preempted = false;
            foreach (int r in running.ToArray())
            {
                if (!running.Contains(r)) continue;
                while (true)
                {
                    try
                    {
                        cache.Append(seq[r]);
                        generated[r]++;
                        break;
                    }
                    catch (OutOfBlocksException)
                    {
                        int victim = running.Max;
                        cache.Free(seq[victim]);
                        running.Remove(victim);
                        waiting.Add(victim);
                        preemptions++;
                        preempted = true;
                        if (victim == r) break;
                    }
                }
            }
            if (!preempted)
            {
                long stepTokens = running.Count;
                foreach (int w in waiting.ToArray())
                {
                    int tokens = requests[w].PromptTokens + generated[w];
                    if (running.Count >= options.MaxRunning || stepTokens + tokens > options.MaxTokensPerStep) break;
                    if (cache.BlocksFor(tokens + 1) + watermark > cache.FreeBlocks) break;
                    seq[w] = cache.Admit(tokens);
                    cache.Append(seq[w]);
                    generated[w]++;
                    waiting.Remove(w);
                    running.Add(w);
                    stepTokens += tokens;
                }
            }
            states.Add(new StepState(step, cache.UsedBlocks, cache.FilledSlots, running.Count, waiting.Count));
            foreach (int r in running.ToArray())
            {
                if (generated[r] < requests[r].OutputTokens) continue;
                running.Remove(r);
                finished.Add(r);
            }
            if (step > 10_000_000) throw new InvalidOperationException("reference did not finish");
        }
        return states;
    }

    /// <summary>The static batch; returns states up to the last step, or up to (not including) the failing step.</summary>
    public static List<StepState> Static(IReadOnlyList<TraceRequest> requests, KvCacheManager cache, bool seedTimeline, out long failedStep)
    {
        int n = requests.Count, shortest = requests.Min(r => r.PromptTokens);
        var states = new List<StepState>();
        failedStep = 0;
        var seq = new int[n];
        for (int r = 0; r < n; r++)
        {
            if (!cache.CanAdmit(requests[r].PromptTokens))
            {
                failedStep = 1;
                return states;
            }
            seq[r] = cache.Admit(requests[r].PromptTokens);
        }
        var produced = new int[n];
        var done = new bool[n];
        var finished = new List<int>();
        for (long step = 1; done.Contains(false); step++)
        {
            foreach (int r in finished) cache.Free(seq[r]);
            finished.Clear();
            int running = 0;
            for (int r = 0; r < n; r++)
            {
                if (done[r]) continue;
                running++;
                long start = seedTimeline ? 1 + requests[r].PromptTokens - shortest : 1;
                if (step < start) continue;
                try
                {
                    cache.Append(seq[r]);
                }
                catch (OutOfBlocksException)
                {
                    failedStep = step;
                    return states;
                }
                if (++produced[r] == requests[r].OutputTokens)
                {
                    done[r] = true;
                    finished.Add(r);
                }
            }
            states.Add(new StepState(step, cache.UsedBlocks, cache.FilledSlots, running, 0));
        }
        return states;
    }
}
