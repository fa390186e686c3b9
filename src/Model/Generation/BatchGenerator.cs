using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Generation;

/// <summary>
/// Batched generation: every request is admitted to the cache, prompts are prefilled, then each step runs one token
/// of every unfinished request in one forward pass. A request that stops (stop token or length) leaves the cache at
/// once, so its blocks are free while the others continue. No scheduling or preemption here: the cache must be able
/// to hold all requests to the end (the caller sizes it).
/// </summary>
public sealed class BatchGenerator(Llama3 model, IKvCache cache, IAttentionBackend attention)
{
    private int _passes;

    /// <summary>Called after every forward pass, before the requests it finished leave the cache (progress, timing).</summary>
    public Action<GenerationStep>? StepCompleted { get; set; }

    /// <summary>Runs <paramref name="requests"/> to completion; results are in request order.</summary>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<GenerationRequest> requests, GenerationOptions? options = null)
    {
        options ??= new GenerationOptions();
        SamplingOptions sampling = options.Sampling ?? SamplingOptions.Greedy;
        sampling.Validate();
        var states = new RequestState[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            GenerationRequest r = requests[i];
            if (r.Prompt.Count == 0) throw new ArgumentException($"Request {i} has an empty prompt.", nameof(requests));
            if (r.MaxNewTokens <= 0) throw new ArgumentException($"Request {i} asks for {r.MaxNewTokens} new tokens; at least 1 is needed.", nameof(requests));
            if (r.Prompt.Count + r.MaxNewTokens > model.MaxPositions)
                throw new ArgumentException($"Request {i} needs {r.Prompt.Count + r.MaxNewTokens} positions; the model has {model.MaxPositions}.", nameof(requests));
            states[i] = new RequestState(r, new Random(unchecked(sampling.Seed * 1_000_003 + i)), options.RecordLogits);
        }
        var bySequence = new Dictionary<int, RequestState>();
        try
        {
            if (options.Prefill == PrefillMode.TokenByToken) PrefillTokenByToken(states, bySequence, sampling);
            else PrefillWhole(states, bySequence, sampling, options.MaxPrefillTokens, ragged: options.Prefill == PrefillMode.Ragged && model.Parallel is null);
            DecodeUntilDone(bySequence, sampling);
        }
        finally
        {
            foreach (int s in bySequence.Keys) cache.Remove(s); // after a failure: leave the cache empty
        }
        return states.Select(s => new GenerationResult(s.Output, s.Reason, s.StopToken, s.Logits)).ToArray();
    }

    private void PrefillWhole(RequestState[] states, Dictionary<int, RequestState> bySequence, SamplingOptions sampling, int maxTokens, bool ragged)
    {
        // Prompts of equal length share a part (their queries have one length), up to maxTokens tokens; a ragged pass
        // then takes consecutive parts while their tokens stay within maxTokens, else each part is a pass of its own.
        var pass = new List<RequestState[]>();
        int passTokens = 0;
        foreach (var group in states.GroupBy(s => s.Request.Prompt.Count))
        foreach (RequestState[] part in group.Chunk(Math.Max(1, maxTokens / group.Key)))
        {
            int tokens = part.Length * group.Key;
            if (pass.Count > 0 && (!ragged || passTokens + tokens > maxTokens))
            {
                Prefill(pass, bySequence, sampling);
                pass.Clear();
                passTokens = 0;
            }
            pass.Add(part);
            passTokens += tokens;
        }
        if (pass.Count > 0) Prefill(pass, bySequence, sampling);
    }

    private void Prefill(List<RequestState[]> parts, Dictionary<int, RequestState> bySequence, SamplingOptions sampling)
    {
        foreach (RequestState s in parts.SelectMany(p => p))
        {
            s.Sequence = cache.Add(s.Request.Prompt.Count);
            bySequence[s.Sequence] = s;
        }
        Step([.. parts], [.. parts.Select(p => p.Select(s => s.Request.Prompt).ToArray())], bySequence, sampling, emit: _ => true, prefill: true);
    }

    private void PrefillTokenByToken(RequestState[] states, Dictionary<int, RequestState> bySequence, SamplingOptions sampling)
    {
        int min = states.Min(s => s.Request.Prompt.Count);
        foreach (RequestState s in states)
        {
            s.Sequence = cache.Add(min);
            s.Fed = min;
            bySequence[s.Sequence] = s;
        }
        Step(states, [.. states.Select(s => s.Request.Prompt.Take(min).ToArray())], bySequence, sampling, emit: s => s.Fed == s.Request.Prompt.Count, prefill: true);
        // Feed prompt tokens one position per step while any request is still inside its prompt.
        while (bySequence.Values.Any(s => s.Fed < s.Request.Prompt.Count))
        {
            RequestState[] batch = Running(bySequence);
            foreach (RequestState s in batch)
            {
                s.Next = s.Fed < s.Request.Prompt.Count ? s.Request.Prompt[s.Fed] : s.Next;
                s.Fed++;
                cache.Append(s.Sequence);
            }
            Step(batch, [.. batch.Select(s => new[] { s.Next })], bySequence, sampling, emit: s => s.Fed >= s.Request.Prompt.Count, prefill: true);
        }
    }

    private void DecodeUntilDone(Dictionary<int, RequestState> bySequence, SamplingOptions sampling)
    {
        if (bySequence.Count == 0) return; // every request finished with its prompt's pass
        if (!sampling.IsGreedy || bySequence.Values.Any(s => s.Logits is not null))
        {
            while (bySequence.Count > 0)
            {
                RequestState[] batch = Running(bySequence);
                foreach (RequestState s in batch) cache.Append(s.Sequence);
                Step(batch, [.. batch.Select(s => new[] { s.Next })], bySequence, sampling, emit: _ => true, prefill: false);
            }
            return;
        }

        // Greedy: each pass takes its input ids from the previous pass on the device, so the host queues pass t+1 before
        // it reads pass t's ids; the device never waits for the host. Who takes part in pass t+1 is known then, except
        // that a stop token in pass t's ids may end a request: its row in pass t+1 is computed and dropped.
        using var readback = new IdsReadback(model.Device);
        RequestState[] pass = Running(bySequence); // the requests of the next pass to queue
        Tensor? previousIds = null;      // the last queued pass's ids, on the device
        RequestState[]? previousBatch = null;
        (RequestState[] Batch, int Slot, double Launch)? inFlight = null;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            while (pass.Length > 0 || inFlight is not null)
            {
                (RequestState[] Batch, int Slot, double Launch)? queued = null;
                if (pass.Length > 0)
                {
                    foreach (RequestState s in pass) cache.Append(s.Sequence);
                    using (NewDisposeScope())
                    {
                        KvStep step = cache.Prepare([.. pass.Select(s => s.Sequence)], 1, model.Device);
                        Tensor input = previousIds is null ? DeviceUpload([.. pass.Select(s => (long)s.Next)], [pass.Length, 1])
                            : pass.AsSpan().SequenceEqual(previousBatch) ? previousIds.view(pass.Length, 1) // the same rows: no gather
                            : previousIds.index_select(0, DeviceUpload(RowsIn(previousBatch!, pass), [pass.Length])).view(pass.Length, 1);
                        Tensor ids = model.ForwardGreedy(input, cache, step, attention);
                        int slot = readback.Start(ids);
                        previousIds?.Dispose();
                        previousIds = ids.DetachFromDisposeScope();
                        previousBatch = pass;
                        queued = (pass, slot, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
                    }
                }
                if (inFlight is { } done)
                {
                    Complete(done.Batch, readback.Wait(done.Slot), done.Launch, bySequence, ref start);
                }
                else if (!readback.Overlaps && queued is { } only)
                {
                    // Nothing to overlap with: read this pass now.
                    Complete(only.Batch, readback.Wait(only.Slot), only.Launch, bySequence, ref start);
                    queued = null;
                }
                inFlight = queued;
                // The next pass: every request still running that its pending pass (if any) does not finish by length.
                var pending = inFlight is { } p ? new HashSet<RequestState>(p.Batch) : null;
                pass = [.. Running(bySequence).Where(s => pending is null || (pending.Contains(s) && s.Generated + 1 < s.Request.MaxNewTokens))];
                if (inFlight is null) previousIds = DisposeAndNull(previousIds);
            }
        }
        finally
        {
            previousIds?.Dispose();
        }
    }

    /// <summary>Takes a decode pass's ids: each request still running accepts its token; finished ones leave the cache.</summary>
    private void Complete(RequestState[] batch, long[] chosen, double launch, Dictionary<int, RequestState> bySequence, ref long start)
    {
        var finished = new List<RequestState>();
        int emitted = 0;
        for (int b = 0; b < batch.Length; b++)
        {
            RequestState s = batch[b];
            if (!bySequence.ContainsKey(s.Sequence) || !ReferenceEquals(bySequence[s.Sequence], s)) continue; // a stop token ended it a pass ago
            emitted++;
            if (s.Accept((int)chosen[b])) finished.Add(s);
        }
        double seconds = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        start = System.Diagnostics.Stopwatch.GetTimestamp(); // the next pass's time starts where this one's ends
        StepCompleted?.Invoke(new GenerationStep(_passes++, false, batch.Length, 1, emitted, finished.Count,
            bySequence.Count - finished.Count, launch, seconds));
        foreach (RequestState s in finished)
        {
            cache.Remove(s.Sequence); // a pass already queued may still write its slot: later passes write after it
            bySequence.Remove(s.Sequence);
        }
    }

    /// <summary>Each request of <paramref name="batch"/>'s row in <paramref name="previous"/> (every one of them is there).</summary>
    private static long[] RowsIn(RequestState[] previous, RequestState[] batch)
    {
        var row = new Dictionary<RequestState, int>(previous.Length);
        for (int i = 0; i < previous.Length; i++) row[previous[i]] = i;
        return [.. batch.Select(s => (long)row[s])];
    }

    private static Tensor? DisposeAndNull(Tensor? t)
    {
        t?.Dispose();
        return null;
    }

    private Tensor DeviceUpload(long[] values, long[] shape) => KvCache.DeviceUpload.Of(values, shape, model.Device);

    /// <summary>Unfinished requests in the cache's batch order (paged: the dense block-table rows).</summary>
    private RequestState[] Running(Dictionary<int, RequestState> bySequence)
    {
        ReadOnlySpan<int> running = cache.Running;
        var batch = new RequestState[running.Length];
        for (int i = 0; i < running.Length; i++) batch[i] = bySequence[running[i]];
        return batch;
    }

    /// <summary>One forward pass over <paramref name="batch"/>; then each request whose <paramref name="emit"/> holds takes the chosen token.</summary>
    private void Step(RequestState[] batch, IReadOnlyList<int>[] tokens, Dictionary<int, RequestState> bySequence,
        SamplingOptions sampling, Func<RequestState, bool> emit, bool prefill) =>
        Step([batch], [tokens], bySequence, sampling, emit, prefill);

    /// <summary>
    /// One forward pass over <paramref name="parts"/> (each of one query length: <paramref name="tokens"/>[i][b] is the
    /// new tokens of part i's request b; several parts make a ragged pass); then each request whose
    /// <paramref name="emit"/> holds takes the chosen token.
    /// </summary>
    private void Step(RequestState[][] parts, IReadOnlyList<int>[][] tokens, Dictionary<int, RequestState> bySequence,
        SamplingOptions sampling, Func<RequestState, bool> emit, bool prefill)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        double launch;
        RequestState[] batch = [.. parts.SelectMany(p => p)];
        int len = tokens.Max(p => p[0].Count);

        int[] chosen;
        float[]? logits = null;
        bool sampledOnDevice = false;
        int vocab = model.Config.VocabSize;
        using (NewDisposeScope())
        {
            var steps = new KvStep[parts.Length];
            var inputs = new Tensor[parts.Length];
            for (int i = 0; i < parts.Length; i++)
            {
                int partLength = tokens[i][0].Count;
                var flat = new long[parts[i].Length * partLength];
                for (int b = 0; b < parts[i].Length; b++)
                    for (int t = 0; t < partLength; t++) flat[b * partLength + t] = tokens[i][b][t];
                steps[i] = cache.Prepare([.. parts[i].Select(s => s.Sequence)], partLength, model.Device);
                inputs[i] = tensor(flat, [parts[i].Length, partLength]).to(model.Device);
            }
            // Greedy: the ids, chosen where the logits are; else float32 logits.
            Tensor Forward(bool greedy) => parts.Length == 1
                ? greedy ? model.ForwardGreedy(inputs[0], cache, steps[0], attention) : model.Forward(inputs[0], cache, steps[0], attention)
                : greedy ? model.ForwardRaggedGreedy(inputs, steps, cache, attention) : model.ForwardRagged(inputs, steps, cache, attention);
            bool recordLogits = batch.Any(s => s.Logits is not null);
            if (sampling.IsGreedy && !recordLogits)
            {
                Tensor ids = Forward(greedy: true);
                launch = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
                chosen = ids.cpu().data<long>().ToArray().Select(x => (int)x).ToArray();
            }
            else if (!recordLogits)
            {
                // Sampling where the logits are: each emitting row's uniform from its request's own stream; only the
                // ids come back.
                Tensor output = Forward(greedy: false);
                launch = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
                var uniforms = new double[batch.Length];
                for (int b = 0; b < batch.Length; b++)
                    if (emit(batch[b])) uniforms[b] = batch[b].Random.NextDouble();
                chosen = DeviceSampler.Sample(output, sampling, uniforms).cpu().data<long>().ToArray().Select(x => (int)x).ToArray();
                sampledOnDevice = true;
            }
            else
            {
                Tensor output = Forward(greedy: false);
                launch = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
                logits = output.cpu().data<float>().ToArray();
                chosen = sampling.IsGreedy
                    ? output.argmax(-1).cpu().data<long>().ToArray().Select(x => (int)x).ToArray()
                    : new int[batch.Length];
            }
        }
        var finished = new List<RequestState>();
        int emitted = 0;
        for (int b = 0; b < batch.Length; b++)
        {
            RequestState s = batch[b];
            if (!emit(s)) continue;
            emitted++;
            ReadOnlySpan<float> row = logits is null ? default : logits.AsSpan(b * vocab, vocab);
            int token = sampling.IsGreedy || sampledOnDevice ? chosen[b] : TokenSampler.Sample(row, sampling, s.Random);
            s.Logits?.Add(row.ToArray());
            if (s.Accept(token)) finished.Add(s);
        }
        StepCompleted?.Invoke(new GenerationStep(_passes++, prefill, batch.Length, len, emitted, finished.Count,
            bySequence.Count - finished.Count, launch, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds));
        foreach (RequestState s in finished)
        {
            cache.Remove(s.Sequence); // its blocks are free for the others at once
            bySequence.Remove(s.Sequence);
        }
    }

    private sealed class RequestState(GenerationRequest request, Random random, bool recordLogits)
    {
        public GenerationRequest Request { get; } = request;
        public Random Random { get; } = random;
        public List<int> Output { get; } = [];
        public List<float[]>? Logits { get; } = recordLogits ? [] : null;
        public int Sequence { get; set; } = -1;
        public int Next { get; set; }
        public int Fed { get; set; }
        public int Generated { get; private set; }
        public FinishReason Reason { get; private set; }
        public int? StopToken { get; private set; }

        /// <summary>Takes a generated token; true when the request is finished.</summary>
        public bool Accept(int token)
        {
            Generated++;
            Next = token;
            if (Request.StopTokens?.Contains(token) == true)
            {
                Reason = FinishReason.Stop;
                StopToken = token;
                return true;
            }
            Output.Add(token);
            Reason = FinishReason.Length;
            return Generated >= Request.MaxNewTokens;
        }
    }
}
