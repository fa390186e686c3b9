using BenchmarkDotNet.Attributes;
using PagedSim.Allocator;

namespace PagedSim.Bench;

/// <summary>
/// One decode step's bookkeeping for a batch of 256 sequences: append one token to each running sequence, which
/// keeps the dense block table and lengths up to date (a new block lands in the dense row when one is taken).
/// Each iteration starts from the same 256 prompts (16–1,024 tokens) and runs 1,024 steps; the figure is per step.
/// Target: at most 10 µs per step.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)] // one invocation = 1,024 steps from a fresh batch, set up outside the measurement
public class AllocatorDecodeStepBenchmarks
{
    private const int Batch = 256;
    private const int Steps = 1024;
    private const int MaxPrompt = 1024;
    private KvCacheManager _manager = null!;
    private int[] _prompts = [];

    /// <summary>Token slots per block.</summary>
    [Params(16, 256)]
    public int BlockSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new KvCacheOptions(NumBlocks: 0, BlockSize, MaxSequenceLength: MaxPrompt + Steps);
        _manager = new KvCacheManager(options with { NumBlocks = Batch * options.MaxBlocksPerSequence });
        var random = new Random(42);
        _prompts = Enumerable.Range(0, Batch).Select(_ => random.Next(16, MaxPrompt + 1)).ToArray();
    }

    [IterationSetup]
    public void AdmitBatch()
    {
        KvCacheManager m = _manager;
        while (m.RunningCount > 0) m.Free(m.SequenceAt(m.RunningCount - 1));
        foreach (int prompt in _prompts) m.Admit(prompt);
    }

    [Benchmark(OperationsPerInvoke = Steps)]
    public void DecodeStep()
    {
        KvCacheManager m = _manager;
        for (int step = 0; step < Steps; step++)
        {
            foreach (int s in m.RunningSequences) m.Append(s);
        }
    }
}
