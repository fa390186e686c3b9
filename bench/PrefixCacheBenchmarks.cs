using BenchmarkDotNet.Attributes;
using PagedSim.Allocator;

namespace PagedSim.Bench;

/// <summary>
/// The allocator's cost with prefix caching on. <see cref="AdmitWithHit"/>: a 1,025-token prompt whose first
/// 1,024 tokens are cached (64 blocks of 16, freed and evictable) is admitted — every block hashed (XxHash64),
/// looked up, confirmed token by token and taken back — and freed again; per block looked up. Target: at most 1 µs.
/// <see cref="AppendOneTokenCachingOn"/>: the append benchmark with caching on (append is unchanged). Target: at most
/// 20 ns and 0 bytes per token.
/// </summary>
[MemoryDiagnoser]
public class PrefixCacheBenchmarks
{
    private const int CachedBlocks = 64, BlockSize = 16, Tokens = 4096;
    private KvCacheManager _hit = null!, _append = null!;
    private int[] _prompt = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _prompt = Enumerable.Range(0, CachedBlocks * BlockSize + 1).Select(_ => random.Next(128_256)).ToArray();
        _hit = new KvCacheManager(new KvCacheOptions(4 * CachedBlocks, BlockSize, 8192, PrefixCaching: true));
        _hit.TryAdmit(_prompt.Length, _prompt, 1, 0, out int first, out _);
        _hit.Free(first); // its 64 full blocks stay cached
        var options = new KvCacheOptions(NumBlocks: 0, BlockSize, MaxSequenceLength: Tokens + 1, PrefixCaching: true);
        _append = new KvCacheManager(options with { NumBlocks = options.MaxBlocksPerSequence });
    }

    [Benchmark(OperationsPerInvoke = CachedBlocks)]
    public int AdmitWithHit()
    {
        if (!_hit.TryAdmit(_prompt.Length, _prompt, 1, 0, out int s, out int cached) || cached != CachedBlocks * BlockSize)
            throw new InvalidOperationException("Expected a hit on every cached block.");
        _hit.Free(s);
        return s;
    }

    [Benchmark(OperationsPerInvoke = Tokens)]
    public int AppendOneTokenCachingOn()
    {
        KvCacheManager m = _append;
        int s = m.Admit(1);
        for (int i = 0; i < Tokens; i++) m.Append(s);
        m.Free(s);
        return s;
    }
}
