using BenchmarkDotNet.Attributes;
using PagedSim.Allocator;

namespace PagedSim.Bench;

/// <summary>
/// Appending one token, amortised: one sequence grows from 1 to 4,097 tokens one append at a time (a block is
/// allocated every <see cref="BlockSize"/> tokens); the admit and free around the loop count 1/4,096 each.
/// Target: at most 20 ns and 0 bytes allocated per token.
/// </summary>
[MemoryDiagnoser]
public class AllocatorAppendBenchmarks
{
    private const int Tokens = 4096;
    private KvCacheManager _manager = null!;

    /// <summary>Token slots per block: vLLM's usual 16, and the seed's 256.</summary>
    [Params(16, 256)]
    public int BlockSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new KvCacheOptions(NumBlocks: 0, BlockSize, MaxSequenceLength: Tokens + 1);
        _manager = new KvCacheManager(options with { NumBlocks = options.MaxBlocksPerSequence });
    }

    [Benchmark(OperationsPerInvoke = Tokens)]
    public int AppendOneToken()
    {
        KvCacheManager m = _manager;
        int s = m.Admit(1);
        for (int i = 0; i < Tokens; i++) m.Append(s);
        m.Free(s);
        return s;
    }
}
