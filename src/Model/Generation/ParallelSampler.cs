using System.Diagnostics;
using PagedSim.Allocator;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Generation;

/// <summary>
/// Parallel sampling, as the vLLM paper does it: K completions of each prompt share the prompt's blocks. The prompt
/// is prefilled once into blocks every sample references (<see cref="KvCacheManager.Fork"/>); the first K − 1 samples
/// to write into the shared partial last block get their own copy of it, K/V data included in every layer
/// (<see cref="PagedKvCache.CopyBlock"/>). With <c>share: false</c> every sample holds its own copy of the prompt: the
/// baseline the saving is measured against.
/// </summary>
/// <remarks>
/// Sample j of prompt g draws from its own seeded stream, number g·K + j, the stream <see cref="BatchGenerator"/> gives
/// request g·K + j: K copies of each prompt run through <see cref="BatchGenerator"/> with the same seed produce the same
/// tokens. Groups are admitted by <see cref="ForkedGroups"/> (worst-case reservation, no preemption).
/// </remarks>
public sealed class ParallelSampler(Llama3 model, PagedKvCache cache, IAttentionBackend attention)
{
    /// <summary>Runs <paramref name="samples"/> completions of every prompt to the end.</summary>
    public ParallelSamplingRun Generate(IReadOnlyList<GenerationRequest> prompts, int samples, SamplingOptions sampling, bool share = true)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        sampling.Validate();
        if (cache.Manager.RunningCount != 0) throw new ArgumentException("The cache must be empty.", nameof(cache));
        var groups = new ForkedGroups(cache.Manager, samples, share);
        var states = new Sample[prompts.Count][];
        for (int g = 0; g < prompts.Count; g++)
        {
            GenerationRequest r = prompts[g];
            if (r.Prompt.Count == 0 || r.MaxNewTokens <= 0) throw new ArgumentException($"Prompt {g} is empty or asks for no tokens.", nameof(prompts));
            if (r.Prompt.Count + r.MaxNewTokens > Math.Min(model.MaxPositions, cache.Manager.Options.MaxSequenceLength))
                throw new ArgumentException($"Prompt {g} needs {r.Prompt.Count + r.MaxNewTokens} positions; the model or cache has fewer.", nameof(prompts));
            states[g] = Enumerable.Range(0, samples).Select(j => new Sample(r, new Random(unchecked(sampling.Seed * 1_000_003 + g * samples + j)))).ToArray();
            groups.Submit(r.Prompt.Count, r.MaxNewTokens);
        }

        var clock = Stopwatch.StartNew();
        var running = new List<(int Group, int Index)>();
        var blocksPerStep = new List<int>();
        int peak = 0, copies = 0;
        while (!groups.IsIdle)
        {
            // Samples that continue append the slot of the token they feed; a shared partial block is copied first
            // (all of a step's copies in one gather and scatter per pool).
            var stepCopies = new List<BlockCopy>();
            foreach ((int g, int j) in running)
            {
                BlockCopy copy = cache.Manager.Append(groups.SequencesOf(g)[j]);
                if (copy.IsNeeded) stepCopies.Add(copy);
            }
            copies += stepCopies.Count;
            cache.CopyBlocks(stepCopies);
            IReadOnlyList<int> admitted = groups.AdmitWaiting();
            if (admitted.Count == 0 && running.Count == 0) throw new InvalidOperationException("No group could be admitted into an empty pool.");
            int used = cache.Manager.UsedBlocks;
            peak = Math.Max(peak, used);
            blocksPerStep.Add(used);

            var stepped = new List<(int Group, int Index)>(running);
            foreach (var byLength in admitted.GroupBy(g => prompts[g].Prompt.Count))
            {
                // Shared: one prompt pass per group, every sample draws from its logits; independent: one row each.
                int[] batch = [.. byLength];
                var rows = share ? batch.Select(g => (g, 0)).ToList() : batch.SelectMany(g => Enumerable.Range(0, samples).Select(j => (g, j))).ToList();
                var drawers = batch.SelectMany(g => Enumerable.Range(0, samples).Select(j => (g, j))).ToList();
                int[] rowOf = [.. Enumerable.Range(0, drawers.Count).Select(d => share ? d / samples : d)];
                Draw(Forward(rows, groups, byLength.Key, (g, _) => prompts[g].Prompt), rowOf, drawers, states, sampling);
                stepped.AddRange(drawers);
            }
            if (running.Count > 0)
                Draw(Forward(running, groups, 1, (g, j) => [states[g][j].Next]), null, running, states, sampling);
            running.Clear();
            foreach ((int g, int j) in stepped)
            {
                if (states[g][j].Done) groups.Finish(g, j);
                else running.Add((g, j));
            }
        }
        IReadOnlyList<GenerationResult>[] results = states.Select(group => (IReadOnlyList<GenerationResult>)group
            .Select(s => new GenerationResult(s.Output, s.Reason, s.StopToken, null)).ToArray()).ToArray();
        return new ParallelSamplingRun(results, share, blocksPerStep.Count, peak, cache.Manager.TotalBlocks, copies,
            clock.Elapsed.TotalSeconds, blocksPerStep);
    }

    /// <summary>One forward pass; returns the float32 logits [rows, vocab] on the model's device (the caller disposes them).</summary>
    private Tensor Forward(IReadOnlyList<(int Group, int Index)> rows, ForkedGroups groups, int len, Func<int, int, IReadOnlyList<int>> tokens)
    {
        var flat = new long[rows.Count * len];
        var sequences = new int[rows.Count];
        for (int b = 0; b < rows.Count; b++)
        {
            (int g, int j) = rows[b];
            sequences[b] = groups.SequencesOf(g)[j];
            IReadOnlyList<int> t = tokens(g, j);
            for (int i = 0; i < len; i++) flat[b * len + i] = t[t.Count - len + i];
        }
        using var scope = NewDisposeScope();
        KvStep step = cache.Prepare(sequences, len, model.Device);
        Tensor output = model.Forward(tensor(flat, [rows.Count, len]).to(model.Device), cache, step, attention);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Each of <paramref name="drawers"/> chooses its next token from row <paramref name="rowOf"/>[i] of
    /// <paramref name="logits"/> (row i when null), where the logits are: the argmax, or a draw with a uniform from the
    /// sample's own stream (<see cref="DeviceSampler"/>). Only the ids come back to the host.
    /// </summary>
    private static void Draw(Tensor logits, int[]? rowOf, IReadOnlyList<(int Group, int Index)> drawers, Sample[][] states, SamplingOptions sampling)
    {
        using var scope = NewDisposeScope();
        using (logits)
        {
            Tensor rows = rowOf is null ? logits : logits.index_select(0, tensor(rowOf.Select(r => (long)r).ToArray()).to(logits.device));
            Tensor ids;
            if (sampling.IsGreedy) ids = rows.argmax(1);
            else
            {
                var uniforms = new double[drawers.Count];
                for (int i = 0; i < drawers.Count; i++) uniforms[i] = states[drawers[i].Group][drawers[i].Index].NextUniform();
                ids = DeviceSampler.Sample(rows, sampling, uniforms);
            }
            long[] chosen = ids.cpu().data<long>().ToArray();
            for (int i = 0; i < drawers.Count; i++) states[drawers[i].Group][drawers[i].Index].Take((int)chosen[i]);
        }
    }

    private sealed class Sample(GenerationRequest request, Random random)
    {
        public List<int> Output { get; } = [];
        public int Next { get; private set; }
        public bool Done { get; private set; }
        public FinishReason Reason { get; private set; } = FinishReason.Length;
        public int? StopToken { get; private set; }
        private int _produced;

        /// <summary>The next uniform of this sample's own stream (one a draw).</summary>
        public double NextUniform() => random.NextDouble();

        /// <summary>Takes the token chosen for this sample.</summary>
        public void Take(int token)
        {
            _produced++;
            Next = token;
            if (request.StopTokens?.Contains(token) == true)
            {
                (Reason, StopToken, Done) = (FinishReason.Stop, token, true);
                return;
            }
            Output.Add(token);
            Done = _produced >= request.MaxNewTokens;
        }
    }
}
