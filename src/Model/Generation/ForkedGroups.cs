using PagedSim.Allocator;
using PagedSim.Allocator.Scheduling;

namespace PagedSim.Model.Generation;

/// <summary>
/// Parallel sampling's bookkeeping over a <see cref="KvCacheManager"/>: each prompt is a group of K samples. Shared,
/// the prompt is admitted once and forked K − 1 times (every block shared; the first append into the shared partial
/// last block copies it); independent, each sample is admitted with its own copy of the prompt. Groups wait in
/// arrival order and are admitted while their worst case (every sample at its max length) fits beside the worst cases
/// of the running groups, so nothing is ever preempted. Pure policy over lengths: the sampler and its prediction drive
/// the same object.
/// </summary>
public sealed class ForkedGroups
{
    private readonly KvCacheManager _cache;
    private readonly Queue<int> _waiting = new();
    private readonly List<(int Prompt, int MaxNew)> _groups = [];
    private readonly List<int[]> _sequences = [];
    private readonly List<int> _live = [];
    private long _reserved;
    private int _liveSamples;

    /// <summary>Creates the groups' bookkeeping over <paramref name="cache"/>.</summary>
    /// <param name="cache">The block manager.</param>
    /// <param name="samples">Samples per prompt (K).</param>
    /// <param name="share">Fork the prompt's blocks (true) or give every sample its own copy (false).</param>
    public ForkedGroups(KvCacheManager cache, int samples, bool share)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        (_cache, Samples, Share) = (cache, samples, share);
    }

    /// <summary>Samples per prompt.</summary>
    public int Samples { get; }

    /// <summary>Whether samples share the prompt's blocks.</summary>
    public bool Share { get; }

    /// <summary>Groups waiting to start.</summary>
    public int WaitingCount => _waiting.Count;

    /// <summary>True when every group has been admitted and every sample freed.</summary>
    public bool IsIdle => _waiting.Count == 0 && _liveSamples == 0;

    /// <summary>Blocks a group holds at most: shared, the prompt's full blocks once plus each sample's own blocks
    /// (its copy of the partial prompt block and its growth); independent, every sample's whole sequence.</summary>
    public static int WorstCaseBlocks(int promptTokens, int maxNewTokens, int samples, int blockSize, bool share)
    {
        int total = (promptTokens + maxNewTokens + blockSize - 1) / blockSize;
        int sharedFull = share ? promptTokens / blockSize : 0;
        return sharedFull + samples * (total - sharedFull);
    }

    /// <summary>Queues a prompt; returns its group number (0, 1, 2, … in arrival order).</summary>
    public int Submit(int promptTokens, int maxNewTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(promptTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNewTokens);
        int group = _groups.Count;
        _groups.Add((promptTokens, maxNewTokens));
        _sequences.Add([]);
        _live.Add(0);
        _waiting.Enqueue(group);
        return group;
    }

    /// <summary>Admits waiting groups in order while their worst case fits; returns them.</summary>
    /// <exception cref="RequestTooLargeException">A group's worst case exceeds the whole pool.</exception>
    public IReadOnlyList<int> AdmitWaiting()
    {
        var admitted = new List<int>();
        while (_waiting.TryPeek(out int g))
        {
            (int prompt, int maxNew) = _groups[g];
            int need = WorstCaseBlocks(prompt, maxNew, Samples, _cache.BlockSize, Share);
            if (need > _cache.TotalBlocks) throw new RequestTooLargeException(g, prompt + maxNew, need, _cache.TotalBlocks);
            if (_reserved + need > _cache.TotalBlocks) break;
            _waiting.Dequeue();
            _reserved += need;
            var sequences = new int[Samples];
            sequences[0] = _cache.Admit(prompt);
            for (int s = 1; s < Samples; s++) sequences[s] = Share ? _cache.Fork(sequences[0]) : _cache.Admit(prompt);
            _sequences[g] = sequences;
            _live[g] = Samples;
            _liveSamples += Samples;
            admitted.Add(g);
        }
        return admitted;
    }

    /// <summary>The cache sequence of each sample of an admitted group (sample 0 is the one admitted first).</summary>
    public IReadOnlyList<int> SequencesOf(int group) => _sequences[group];

    /// <summary>Frees a finished sample's blocks at once; the group's reservation ends with its last sample.</summary>
    public void Finish(int group, int sample)
    {
        int sequence = _sequences[group][sample];
        if (sequence < 0) throw new ArgumentException($"Sample {sample} of group {group} has already finished.", nameof(sample));
        _cache.Free(sequence);
        _sequences[group][sample] = -1;
        _liveSamples--;
        if (--_live[group] == 0)
        {
            (int prompt, int maxNew) = _groups[group];
            _reserved -= WorstCaseBlocks(prompt, maxNew, Samples, _cache.BlockSize, Share);
        }
    }
}
