using BenchmarkDotNet.Attributes;
using PagedSim.Allocator;

namespace PagedSim.Bench;

/// <summary>
/// Admit + free and fork (+ copy-on-write) with 256 sequences running (block size 16), so that a leaving sequence's
/// dense row is filled by moving the last row, as in a real batch.
/// </summary>
[MemoryDiagnoser]
public class AllocatorLifecycleBenchmarks
{
    private const int Batch = 256;
    private KvCacheManager _manager = null!;
    private int _victim;
    private int _parent;

    [GlobalSetup]
    public void Setup()
    {
        _manager = new KvCacheManager(new KvCacheOptions(NumBlocks: 16_384, BlockSize: 16, MaxSequenceLength: 4096));
        var random = new Random(42);
        for (int i = 0; i < Batch - 1; i++) _manager.Admit(random.Next(16, 1025));
        _parent = _manager.Admit(1000); // 62 full blocks and one holding 8 tokens: a child's append copies it
        _victim = _manager.SequenceAt(Batch / 2);
    }

    /// <summary>Admit a 512-token prompt (32 blocks) and free a sequence mid-batch (its row takes the last one).</summary>
    [Benchmark]
    public int AdmitAndFree()
    {
        int s = _manager.Admit(512);
        _manager.Free(_victim);
        _victim = s; // the newcomer leaves next time: the batch stays at 256
        return s;
    }

    /// <summary>Fork a running sequence (share all its blocks) and free the child.</summary>
    [Benchmark]
    public int ForkAndFree()
    {
        int child = _manager.Fork(_parent);
        _manager.Free(child);
        return child;
    }

    /// <summary>Fork, append one token to the child (copy-on-write of the shared partial last block), free the child.</summary>
    [Benchmark]
    public BlockCopy ForkAppendAndFree()
    {
        int child = _manager.Fork(_parent);
        BlockCopy copy = _manager.Append(child);
        _manager.Free(child);
        return copy;
    }
}
