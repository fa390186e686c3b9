using System.Diagnostics;
using PagedSim.Allocator.Scheduling;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Generation;

/// <summary>
/// Continuous batching driven by the allocator's <see cref="Scheduler"/> (the object the simulator's continuous mode
/// drives, so the run's steps, preemptions and blocks are the simulator's by construction): requests wait in arrival
/// order, join the batch in the step the scheduler admits them (their prompt, plus any tokens generated before a
/// preemption, is prefilled in that step), leave at once when finished, and are preempted (blocks freed) and later
/// recomputed when blocks run out.
/// </summary>
/// <remarks>
/// Each step: <c>Advance(1)</c> and <c>Sync()</c> (the manager's block tables now cover the step), one prefill pass per
/// prompt length among the admitted requests, one decode pass over the others, then <c>Finish</c> for requests that
/// produced a stop token. Sampling uses one seeded stream per request (as <see cref="BatchGenerator"/> does), so a
/// request's output does not depend on what it was batched with or whether it was preempted.
/// With prefix caching on the cache's manager, an admitted request's prefill starts after the tokens the scheduler
/// found cached: positions and cache slots continue from there, and attention reads the cached blocks through the
/// block table like any other. Admitted requests are then prefilled in admission order (consecutive requests of one
/// length share a pass), so a block registered by one request is written before a later one reads it.
/// </remarks>
public sealed class ContinuousBatchGenerator(Llama3 model, PagedKvCache cache, IAttentionBackend attention, SchedulerOptions? schedulerOptions = null)
{
    /// <summary>Called after every step with the batch's state (for progress displays).</summary>
    public Action<ContinuousTimelinePoint>? StepCompleted { get; set; }

    /// <summary>Runs every request to completion; results are in request order.</summary>
    /// <exception cref="RequestTooLargeException">A request can never fit the pool, even alone.</exception>
    public ContinuousRun Generate(IReadOnlyList<GenerationRequest> requests, SamplingOptions? sampling = null) =>
        Generate(requests, sampling, null, 0);

    /// <summary>Runs every request to completion, some arriving after others finish; results are in request order.</summary>
    /// <param name="requests">The requests.</param>
    /// <param name="sampling">Greedy when null.</param>
    /// <param name="after">For each request, the earlier request whose finish it waits for (the previous turn of its
    /// conversation), or -1; null: all arrive at the start.</param>
    /// <param name="delaySteps">Steps between that finish and the arrival.</param>
    public ContinuousRun Generate(IReadOnlyList<GenerationRequest> requests, SamplingOptions? sampling, IReadOnlyList<int>? after, long delaySteps)
    {
        sampling ??= SamplingOptions.Greedy;
        sampling.Validate();
        if (cache.Manager.RunningCount != 0) throw new ArgumentException("The cache must be empty.", nameof(cache));
        var scheduler = new Scheduler(cache.Manager, schedulerOptions);
        var states = new State[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            GenerationRequest r = requests[i];
            if (r.Prompt.Count == 0) throw new ArgumentException($"Request {i} has an empty prompt.", nameof(requests));
            if (r.MaxNewTokens <= 0) throw new ArgumentException($"Request {i} asks for {r.MaxNewTokens} new tokens; at least 1 is needed.", nameof(requests));
            int limit = Math.Min(model.MaxPositions, cache.Manager.Options.MaxSequenceLength);
            if (r.Prompt.Count + r.MaxNewTokens > limit)
                throw new ArgumentException($"Request {i} needs {r.Prompt.Count + r.MaxNewTokens} positions; at most {limit} are available.", nameof(requests));
            states[i] = new State(r, new Random(unchecked(sampling.Seed * 1_000_003 + i)));
            scheduler.Submit(r.Prompt.Count, r.MaxNewTokens, [.. r.Prompt], after?[i] ?? -1, delaySteps);
        }
        bool caching = cache.Manager.Options.PrefixCaching;

        var timeline = new List<ContinuousTimelinePoint>();
        var clock = Stopwatch.StartNew();
        int peak = 0, passes = 0;
        long prefillTokens = 0;
        while (true)
        {
            double stepStart = clock.Elapsed.TotalSeconds;
            SchedulerStep step = scheduler.Advance(1);
            if (step.Steps == 0) break;
            scheduler.Sync();
            int used = cache.Manager.UsedBlocks;
            peak = Math.Max(peak, used);
            foreach (int p in scheduler.Preempted) states[p].Preemptions++;
            var admitted = new HashSet<int>(scheduler.Admitted);
            foreach (int a in scheduler.Arrived) states[a].ArrivalSeconds = stepStart;
            foreach (int a in admitted) states[a].AdmittedAt ??= (stepStart, step.Step);
            int[] running = [.. scheduler.RunningRequests];
            int waiting = scheduler.WaitingCount;

            // Prefill (or recompute) the admitted requests past their cached tokens, one pass per length; then
            // decode everyone else.
            foreach ((int length, int[] batch) in PrefillGroups(scheduler.Admitted, states, scheduler, caching))
            {
                Run(batch, length, states, scheduler, sampling);
                passes++;
                prefillTokens += (long)batch.Length * length;
            }
            int[] decode = running.Where(r => !admitted.Contains(r)).ToArray();
            if (decode.Length > 0)
            {
                Run(decode, 1, states, scheduler, sampling);
                passes++;
            }

            double stepEnd = clock.Elapsed.TotalSeconds;
            var finishedByLength = new HashSet<int>(scheduler.Finished);
            foreach (int r in running)
            {
                State s = states[r];
                s.FirstTokenSeconds ??= stepEnd;
                if (s.Reason == FinishReason.Stop && !finishedByLength.Contains(r)) scheduler.Finish(r);
                if (s.Done && (s.Reason == FinishReason.Stop || finishedByLength.Contains(r))) (s.FinishSeconds, s.FinishedStep) = (stepEnd, step.Step);
                else if (s.Done || scheduler.Generated(r) != s.Produced || finishedByLength.Contains(r))
                    throw new InvalidOperationException($"Request {r}: the scheduler counts {scheduler.Generated(r)} generated token(s), the generator {s.Produced}.");
            }
            var point = new ContinuousTimelinePoint(step.Step, stepEnd, running.Length, waiting, used, admitted.Count, scheduler.Preempted.Count);
            timeline.Add(point);
            StepCompleted?.Invoke(point);
        }
        if (!scheduler.IsIdle) throw new InvalidOperationException("The scheduler stopped with requests left.");
        double seconds = clock.Elapsed.TotalSeconds;
        var results = states.Select(s => new ContinuousRequestResult(s.Output, s.Reason, s.StopToken, s.AdmittedAt!.Value.Seconds - s.ArrivalSeconds,
            s.FirstTokenSeconds!.Value - s.ArrivalSeconds, s.FinishSeconds - s.ArrivalSeconds, s.AdmittedAt.Value.Step, s.FinishedStep,
            s.Preemptions, s.ArrivalSeconds)).ToArray();
        return new ContinuousRun(results, scheduler.CurrentStep, scheduler.Preemptions, peak, cache.Manager.TotalBlocks,
            passes, prefillTokens, seconds, timeline, scheduler.AdmittedTokens, scheduler.CachedTokens);
    }

    /// <summary>The prefill passes of a step: (tokens to feed per request, requests). Without prefix caching, one
    /// pass per length; with it, consecutive admissions of one length, in admission order (a request may read blocks
    /// an earlier one of this step registered, so those must be written first).</summary>
    private static List<(int Length, int[] Batch)> PrefillGroups(IReadOnlyList<int> admitted, State[] states, Scheduler scheduler, bool caching)
    {
        int Length(int a) => states[a].Request.Prompt.Count + states[a].Output.Count - scheduler.CachedTokensOf(a);
        if (!caching) return [.. admitted.GroupBy(Length).Select(g => (g.Key, g.ToArray()))];
        var groups = new List<(int, int[])>();
        for (int i = 0; i < admitted.Count;)
        {
            int length = Length(admitted[i]), j = i + 1;
            while (j < admitted.Count && Length(admitted[j]) == length) j++;
            groups.Add((length, admitted.Skip(i).Take(j - i).ToArray()));
            i = j;
        }
        return groups;
    }

    /// <summary>One forward pass feeding the last <paramref name="len"/> tokens (prompt, then generated) of each request.</summary>
    private void Run(int[] batch, int len, State[] states, Scheduler scheduler, SamplingOptions sampling)
    {
        var flat = new long[batch.Length * len];
        var sequences = new int[batch.Length];
        for (int b = 0; b < batch.Length; b++)
        {
            State s = states[batch[b]];
            sequences[b] = scheduler.SequenceOf(batch[b]);
            int total = s.Request.Prompt.Count + s.Output.Count;
            for (int t = 0; t < len; t++)
            {
                int index = total - len + t;
                flat[b * len + t] = index < s.Request.Prompt.Count ? s.Request.Prompt[index] : s.Output[index - s.Request.Prompt.Count];
            }
        }
        int[] chosen = new int[batch.Length];
        using (NewDisposeScope())
        {
            // The scheduler counts the token a step produces (as the simulator does): one token per sequence is not yet written.
            KvStep step = cache.Prepare(sequences, len, model.Device, pendingTokens: 1);
            Tensor input = tensor(flat, [batch.Length, len]).to(model.Device);
            if (sampling.IsGreedy)
            {
                long[] ids = model.ForwardGreedy(input, cache, step, attention).cpu().data<long>().ToArray();
                for (int b = 0; b < batch.Length; b++) chosen[b] = (int)ids[b];
            }
            else
            {
                // Sampling where the logits are (DeviceSampler): each row's uniform from its request's own stream.
                var uniforms = new double[batch.Length];
                for (int b = 0; b < batch.Length; b++) uniforms[b] = states[batch[b]].Random.NextDouble();
                long[] ids = DeviceSampler.Sample(model.Forward(input, cache, step, attention), sampling, uniforms).cpu().data<long>().ToArray();
                for (int b = 0; b < batch.Length; b++) chosen[b] = (int)ids[b];
            }
        }
        for (int b = 0; b < batch.Length; b++) states[batch[b]].Accept(chosen[b]);
    }

    private sealed class State(GenerationRequest request, Random random)
    {
        public GenerationRequest Request { get; } = request;
        public Random Random { get; } = random;
        public List<int> Output { get; } = [];
        public int Produced { get; private set; }
        public FinishReason Reason { get; private set; } = FinishReason.Length;
        public int? StopToken { get; private set; }
        public bool Done { get; private set; }
        public int Preemptions { get; set; }
        public (double Seconds, long Step)? AdmittedAt { get; set; }
        public double ArrivalSeconds { get; set; }
        public double? FirstTokenSeconds { get; set; }
        public double FinishSeconds { get; set; }
        public long FinishedStep { get; set; }

        public void Accept(int token)
        {
            if (Done) throw new InvalidOperationException("A finished request was scheduled again.");
            Produced++;
            if (Request.StopTokens?.Contains(token) == true)
            {
                (Reason, StopToken, Done) = (FinishReason.Stop, token, true);
                return;
            }
            Output.Add(token);
            Done = Produced >= Request.MaxNewTokens;
        }
    }
}
