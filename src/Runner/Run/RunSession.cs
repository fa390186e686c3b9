using System.Diagnostics;
using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.Kernels;
using PagedSim.Model.KvCache;
using PagedSim.Model.Synthetic;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// A model on a device with its attention backend, and batched greedy runs over a paged or naive cache that measure
/// speed and memory. The caller catches out-of-memory failures (<see cref="RunOutOfMemory"/>).
/// </summary>
internal sealed class RunSession : IDisposable
{
    private RunSession(Llama3 model, IAttentionBackend attention, string attentionNote, long? baseline)
    {
        Model = model;
        Attention = attention;
        AttentionNote = attentionNote;
        BaselineDeviceBytes = baseline;
    }

    public Llama3 Model { get; }

    public IAttentionBackend Attention { get; }

    /// <summary>One line on the backend in use (and why, when it is the fallback).</summary>
    public string AttentionNote { get; }

    /// <summary>Whether the reference attention takes the decode steps (then it takes the prompts too).</summary>
    public bool ReferenceDecode => Attention is ReferenceAttention;

    /// <summary>Whether the reference attention takes the prompts' passes.</summary>
    public bool ReferencePrompts => ReferenceDecode || Attention is PagedSim.Model.Attention.Paged.PagedDecodeAttention { OtherPasses: ReferenceAttention };

    /// <summary>Whether a ragged prefill pass runs in the native layer loop (fused kernels, flash-attn reading the cache
    /// in place) for a naive cache or blocks of <paramref name="blockSize"/>; else it runs operation by operation.</summary>
    public bool RaggedInLayerLoop(bool naive, int blockSize) =>
        Model.RaggedPassInLayerLoop(Attention, naive ? KvCacheKind.Contiguous : KvCacheKind.Paged, blockSize);

    /// <summary>Device memory in use before the weights were created, or null off CUDA.</summary>
    public long? BaselineDeviceBytes { get; }

    public bool OnCuda => Model.Device.type == DeviceType.CUDA;

    /// <summary>Creates synthetic weights (<paramref name="synthetic"/> not null) or loads <paramref name="modelDir"/>.</summary>
    public static RunSession Open(Device device, Llama3Config? synthetic, long seed, string? modelDir, string attention, int blockSize, bool naive,
        string kernelsChoice = "auto")
    {
        bool cuda = device.type == DeviceType.CUDA;
        (ILayerKernels kernels, string kernelsNote) = KernelsChoice.Select(device, cuda ? ScalarType.BFloat16 : ScalarType.Float32, kernelsChoice);
        int headDim = synthetic?.HeadDim ?? (modelDir is null ? AttentionChoice.SupportedHeadDim : CheckpointConfig.Read(modelDir).HeadDim);
        (IAttentionBackend backend, string note) = AttentionChoice.Select(device, attention, blockSize, naive, headDim);
        note = $"{note}; {kernelsNote}";

        long? baseline = cuda && RunDeviceMemory.Query() is (long free, long total) ? total - free : null;
        try
        {
            Llama3 model;
            if (synthetic is not null)
            {
                ScalarType dtype = cuda ? ScalarType.BFloat16 : ScalarType.Float32;
                model = new Llama3(synthetic, SyntheticWeights.Create(synthetic, device, dtype, seed), device, dtype, RunSettings.MaxSequenceLength, kernels);
            }
            else
            {
                model = Llama3.Load(modelDir!, device, maxPositions: RunSettings.MaxSequenceLength, kernels: kernels);
            }
            return new RunSession(model, backend, note, baseline);
        }
        catch (CheckpointException e)
        {
            (backend as IDisposable)?.Dispose();
            throw new UserError(e.Message, Cli.BadInput, e);
        }
        catch
        {
            (backend as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs every request to its end in one batch. Paged: a pool holding every request to prompt + max new tokens
    /// (at most <paramref name="maxPoolBlocks"/>); naive: one row of 8192 tokens per request, as llama3-naive.py.
    /// <paramref name="attention"/> overrides the session's backend (tests compare backends on one set of weights);
    /// <paramref name="recordLogits"/> keeps every step's logits in the results (tests explain differences with them).
    /// <paramref name="poolBlocks"/> sets the paged pool's size outright (a trial that commits the memory of a longer run).
    /// <paramref name="prefill"/>: one pass a prompt length (<see cref="PrefillMode.Whole"/>) or shared passes (<see cref="PrefillMode.Ragged"/>).
    /// </summary>
    public RunOutcome Generate(IReadOnlyList<int[]> prompts, int[] maxNew, IReadOnlySet<int>? stops, bool naive, int blockSize,
        int? maxPoolBlocks, Action<string>? progress, Action<string>? phase = null, IAttentionBackend? attention = null,
        bool recordLogits = false, int? poolBlocks = null, PrefillMode prefill = PrefillMode.Whole)
    {
        Llama3Config c = Model.Config;
        long bytesPerToken = 2L * c.Layers * c.KvHeads * c.HeadDim * (Model.DType switch { ScalarType.Float32 => 4, ScalarType.Float64 => 8, _ => 2 });
        int n = prompts.Count;
        phase?.Invoke("allocating the KV cache");
        using IKvCache cache = AllocateCache(prompts, maxNew, naive, blockSize, maxPoolBlocks, poolBlocks);
        KvCacheManager? manager = (cache as PagedKvCache)?.Manager;
        int totalBlocks = manager?.TotalBlocks ?? n;
        long poolBytes = naive ? (long)n * RunSettings.MaxSequenceLength * bytesPerToken : (long)totalBlocks * blockSize * bytesPerToken;

        var requests = new GenerationRequest[n];
        for (int i = 0; i < n; i++) requests[i] = new GenerationRequest(prompts[i], maxNew[i], stops);
        int prefillPasses = 0, decodeSteps = 0, peakBlocks = 0, maxBatch = 0;
        double prefillSeconds = 0, decodeSeconds = 0, launchSeconds = 0;
        var prefillPassSeconds = new List<double>();
        long generated = 0;
        long? peakDevice = BaselineDeviceBytes;
        var clock = Stopwatch.StartNew();
        double lastReport = -1;
        var generator = new BatchGenerator(Model, cache, attention ?? Attention)
        {
            StepCompleted = s =>
            {
                generated += s.Emitted;
                if (s.IsPrefill)
                {
                    prefillPasses++;
                    prefillSeconds += s.Seconds;
                    prefillPassSeconds.Add(s.Seconds);
                }
                else
                {
                    decodeSteps++;
                    decodeSeconds += s.Seconds;
                    launchSeconds += s.LaunchSeconds;
                    maxBatch = Math.Max(maxBatch, s.BatchSize);
                }
                peakBlocks = Math.Max(peakBlocks, manager?.UsedBlocks ?? cache.Running.Length);
                if (OnCuda && RunDeviceMemory.Query() is (long free, long total)) peakDevice = Math.Max(peakDevice ?? 0, total - free);
                double now = clock.Elapsed.TotalSeconds;
                if (progress is not null && now - lastReport >= 0.5)
                {
                    lastReport = now;
                    string blocks = manager is null ? $"{cache.Running.Length}/{n} rows" : $"{manager.UsedBlocks}/{manager.TotalBlocks} blocks";
                    progress($"{(s.IsPrefill ? "prefill pass" : "step")} {(s.IsPrefill ? prefillPasses : decodeSteps)}: {s.Running} running, {blocks} in use, {generated / Math.Max(now, 1e-9):F1} tokens/s");
                }
            },
        };
        phase?.Invoke("generating");
        IReadOnlyList<GenerationResult> results = generator.Generate(requests, new GenerationOptions(SamplingOptions.Greedy, prefill, recordLogits));
        double seconds = clock.Elapsed.TotalSeconds;

        // The seed's fragmentation figure, from each request's final length (prompt + emitted − 1 tokens in the cache).
        long fragmented = 0;
        for (int i = 0; i < n; i++)
        {
            int emitted = results[i].Tokens.Count + (results[i].StopToken is null ? 0 : 1);
            long length = prompts[i].Length + emitted - 1;
            fragmented += naive
                ? (RunSettings.MaxSequenceLength - emitted) * bytesPerToken
                : ((length + blockSize - 1) / blockSize * blockSize - length) * bytesPerToken;
        }
        long peakKv = naive ? poolBytes : (long)peakBlocks * blockSize * bytesPerToken;
        return new RunOutcome(results, generated, seconds, prefillPasses, prefillSeconds, decodeSteps, decodeSeconds, launchSeconds,
            maxBatch, totalBlocks, peakBlocks, poolBytes, peakKv, fragmented, peakDevice, BaselineDeviceBytes)
        {
            PrefillPassSeconds = prefillPassSeconds,
        };
    }

    private IKvCache AllocateCache(IReadOnlyList<int[]> prompts, int[] maxNew, bool naive, int blockSize, int? maxPoolBlocks, int? poolBlocks)
    {
        try
        {
            return NewCache(prompts, maxNew, naive, blockSize, maxPoolBlocks, poolBlocks);
        }
        catch (Exception e) when (RunOutOfMemory.Is(e))
        {
            // The layers allocated before the failure are unreachable but hold device memory until their finalizers
            // run: run them now, so the memory is free for what comes next (the next trial, or a later run in this
            // process). NewCache's frame, which referenced the half-built cache, is gone by now.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            throw;
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private IKvCache NewCache(IReadOnlyList<int[]> prompts, int[] maxNew, bool naive, int blockSize, int? maxPoolBlocks, int? poolBlocks)
    {
        Llama3Config c = Model.Config;
        return naive
            ? new NaiveKvCache(c, prompts.Count, RunSettings.MaxSequenceLength, Model.Device, Model.DType)
            : new PagedKvCache(c, new KvCacheOptions(poolBlocks ?? PoolBlocks(prompts, maxNew, blockSize, maxPoolBlocks), blockSize, RunSettings.MaxSequenceLength), Model.Device, Model.DType);
    }

    /// <summary>Blocks that hold every request to its end (one spare slot each), capped by <paramref name="cap"/>.</summary>
    public static int PoolBlocks(IReadOnlyList<int[]> prompts, int[] maxNew, int blockSize, int? cap)
    {
        long blocks = 0;
        for (int i = 0; i < prompts.Count; i++) blocks += (prompts[i].Length + maxNew[i] + blockSize - 1) / blockSize;
        return (int)Math.Min(blocks, cap ?? int.MaxValue);
    }

    public void Dispose()
    {
        (Attention as IDisposable)?.Dispose();
        Model.Dispose();
    }
}
