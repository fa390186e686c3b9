using System.Globalization;
using PagedSim.Model.Generation;
using PagedSim.Allocator;
using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using PagedSim.Model.Tokenization;
using PagedSim.Runner.Output;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// <c>--find-max-batch</c>: the largest N whose run really starts and keeps going on this device. Each trial allocates
/// the cache the full run needs (naive: 8192 tokens per request; paged: the blocks the full run holds at its peak, the
/// simulator's count, which measured runs match block for block) and runs the prefill and a few decode steps; the
/// trial thus checks that weights, that cache and the real activations fit together. Starting from the simulator's
/// prediction it steps up or down by doubling, then bisects.
/// </summary>
internal static class RunMaxBatch
{
    /// <summary>Decode steps per trial: short outputs, the memory is already committed up front.</summary>
    public const int TrialTokens = 4;

    /// <summary>Largest N tried.</summary>
    public const int Limit = 4096;

    public static int Execute(RunSettings s, Device device, Llama3Config? syntheticShape, string? checkpoint, Llama3Tokenizer tokenizer,
        MemoryModel memory, RunPrediction prediction, string deviceName, TextWriter console, TextWriter log)
    {
        MaxBatchResult predicted = prediction.MaxFor(s.Naive);
        RunSession session;
        try
        {
            session = RunSession.Open(device, syntheticShape, s.Seed, checkpoint, s.Attention, s.BlockSize, s.Naive, s.Kernels);
        }
        catch (Exception e) when (RunOutOfMemory.Is(e))
        {
            throw RunOutOfMemory.Describe(e, "creating the weights", null);
        }
        using (session)
        {
            console.WriteLine(session.AttentionNote);
            string shareGpt = s.ShareGpt ?? Fixtures.Path("sharegpt-filtered.json");
            var cache = new Dictionary<int, bool>();
            bool Runs(int n)
            {
                if (cache.TryGetValue(n, out bool known)) return known;
                RunRequests requests = RunRequests.Load(shareGpt, tokenizer, n);
                int[] full = requests.MaxNewTokens(synthetic: true, s.MaxNewTokens); // the pool holds the recorded answers
                int[] shortNew = [.. full.Select(m => Math.Min(m, TrialTokens))];
                // Paged: the blocks the full run holds at its peak (the simulator's count, which measured runs match
                // block for block), at least what the trial itself writes.
                int trialBlocks = RunSession.PoolBlocks(requests.Prompts, shortNew, s.BlockSize, cap: null);
                int pool = Math.Max(trialBlocks, RunPrediction.PeakBlocks(memory, s.BlockSize, requests.Planned(full, synthetic: true))
                    ?? RunSession.PoolBlocks(requests.Prompts, full, s.BlockSize, cap: null));
                string result;
                bool ok;
                // A trial that ran out of memory may leave tensors only the finalizer frees: free them before the next.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                try
                {
                    RunOutcome o = session.Generate(requests.Prompts, shortNew, null, s.Naive, s.BlockSize, null, progress: null, poolBlocks: pool,
                        prefill: s.RaggedPrefill ? PrefillMode.Ragged : PrefillMode.Whole);
                    ok = true;
                    result = $"runs ({(o.PeakDeviceBytes is long p ? $"peak {ByteSize.Gb(p)} on the device" : "CPU")})";
                }
                catch (Exception e) when (RunOutOfMemory.Is(e) || e is OutOfBlocksException)
                {
                    ok = false;
                    result = RunOutOfMemory.Describe(e, "trying it", null).Message;
                }
                console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  N = {n}: {result}"));
                return cache[n] = ok;
            }

            console.WriteLine($"Largest batch that runs ({s.Cache}; each trial allocates the cache the full run needs at its peak, then {TrialTokens} tokens per request):");
            int start = Math.Clamp(predicted.MaxBatch, 1, Limit);
            int lo, hi; // lo runs (0: none yet), hi does not (Limit + 1: none found)
            if (Runs(start))
            {
                lo = start;
                hi = Limit + 1;
                for (int step = 1; lo + step <= Limit; step *= 2)
                {
                    if (!Runs(lo + step)) { hi = lo + step; break; }
                    lo += step;
                }
            }
            else
            {
                hi = start;
                lo = 0;
                for (int step = 1; hi - step >= 1; step *= 2)
                {
                    if (Runs(hi - step)) { lo = hi - step; break; }
                    hi -= step;
                }
            }
            while (hi - lo > 1)
            {
                int mid = lo + (hi - lo) / 2;
                if (Runs(mid)) lo = mid; else hi = mid;
            }
            console.WriteLine($"Max batch on {deviceName} ({s.Cache}): measured {(lo == 0 ? "none (even 1 request fails)" : lo.ToString(CultureInfo.InvariantCulture))}" +
                $"{(hi > Limit ? $" (search limit {Limit})" : "")}; predicted {predicted.MaxBatch} ({ReportText.Reason(predicted.Reason)})");
        }
        return 0;
    }
}
