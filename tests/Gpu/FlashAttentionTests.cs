using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Flash;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// The flash backend against the reference backend (plain TorchSharp, float32) on random data: decode and prefill
/// chunks, ragged lengths, shuffled block tables, 32 query / 8 KV heads, head dim 128.
/// </summary>
public class FlashAttentionTests
{
    private const int Heads = 32, KvHeads = 8;

    // bf16 keeps 8 mantissa bits: the kernel rounds P to bf16 before P·V and the output to bf16.
    private static double Tolerance(ScalarType dtype) => dtype == ScalarType.BFloat16 ? 2e-2 : 5e-3;

    public static TheoryData<string, int[], int, bool, int, string> Cases() => new()
    {
        // name, lengths, query length, causal, block size, dtype
        { "decode b1 len1", [1], 1, false, 256, "bf16" },
        { "decode b4 block edges", [1, 255, 256, 257], 1, false, 256, "bf16" },
        { "decode b64 ragged", RandomLengths(64, 2048, seed: 5), 1, false, 256, "bf16" },
        { "decode b8 to 8192", [8192, 8000, 5000, 1, 4097, 8191, 300, 6000], 1, true, 256, "bf16" },
        { "decode b3 block 512", [1000, 1537, 2], 1, false, 512, "bf16" },
        { "decode b16 fp16", RandomLengths(16, 3000, seed: 6), 1, false, 256, "fp16" },
        { "prefill chunk 7 causal", [7, 307, 1007], 7, true, 256, "bf16" },
        { "prefill chunk 64 causal", [64, 364, 2000, 64], 64, true, 256, "bf16" },
        { "prefill chunk 130 causal fp16", [130, 1130], 130, true, 512, "fp16" },
        { "prefill chunk 16 non-causal", [16, 700, 2048], 16, false, 256, "bf16" },
        { "prefill b32 chunk 16", RandomLengths(32, 4096, seed: 7, min: 16), 16, true, 256, "bf16" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PagedMatchesReference(string name, int[] lengths, int queryLength, bool causal, int blockSize, string dtype)
    {
        FlashAvailability.SkipUnlessAvailable();
        ScalarType type = dtype == "bf16" ? ScalarType.BFloat16 : ScalarType.Float16;
        using var batch = new FlashTestBatch(lengths, queryLength, Heads, KvHeads, blockSize, type, seed: name.Length);
        using var flash = new FlashAttentionBackend();
        Tensor actual = zeros_like(batch.Query);
        flash.Forward(batch.Paged(causal), actual);
        double error = FlashTestBatch.MaxAbsDiff(actual, batch.Expected(causal));
        Assert.True(error < Tolerance(type), $"{name}: max |flash - reference| = {error:E2} (splits {flash.LastNumSplits})");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ContiguousMatchesPaged(string name, int[] lengths, int queryLength, bool causal, int blockSize, string dtype)
    {
        FlashAvailability.SkipUnlessAvailable();
        ScalarType type = dtype == "bf16" ? ScalarType.BFloat16 : ScalarType.Float16;
        using var batch = new FlashTestBatch(lengths, queryLength, Heads, KvHeads, blockSize, type, seed: name.Length + 1);
        using var flash = new FlashAttentionBackend();
        Tensor paged = zeros_like(batch.Query), contiguous = zeros_like(batch.Query);
        flash.Forward(batch.Paged(causal), paged);
        flash.Forward(batch.Contiguous(causal), contiguous);
        double between = FlashTestBatch.MaxAbsDiff(contiguous, paged);
        double error = FlashTestBatch.MaxAbsDiff(contiguous, batch.Expected(causal));
        Assert.True(between < Tolerance(type) && error < Tolerance(type),
            $"{name}: max |contiguous - paged| = {between:E2}, max |contiguous - reference| = {error:E2}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void ForcedSplitsMatchReference(int splits)
    {
        FlashAvailability.SkipUnlessAvailable();
        using var batch = new FlashTestBatch([1500, 2500, 17], 1, Heads, KvHeads, 256, ScalarType.BFloat16, seed: splits);
        using var flash = new FlashAttentionBackend { NumSplits = splits };
        Tensor actual = zeros_like(batch.Query);
        flash.Forward(batch.Paged(causal: false), actual);
        Assert.Equal(splits, flash.LastNumSplits);
        double error = FlashTestBatch.MaxAbsDiff(actual, batch.Expected(causal: false));
        Assert.True(error < Tolerance(ScalarType.BFloat16), $"splits {splits}: max |flash - reference| = {error:E2}");
    }

    [Fact]
    public void HeuristicSplitsLongContextsOfSmallBatches()
    {
        FlashAvailability.SkipUnlessAvailable();
        // flash-attention's heuristic: 8 x 8 KV heads = 64 blocks fill few of the SMs, so the 8192 keys are split;
        // 64 x 8 = 512 blocks fill them, so one split (figures from its num_splits_heuristic, any GPU of >= 80 SMs).
        using var small = new FlashTestBatch(Enumerable.Repeat(8192, 8).ToArray(), 1, Heads, KvHeads, 256, ScalarType.BFloat16, seed: 1);
        using var large = new FlashTestBatch(Enumerable.Repeat(2048, 64).ToArray(), 1, Heads, KvHeads, 256, ScalarType.BFloat16, seed: 2);
        using var flash = new FlashAttentionBackend();
        flash.Forward(small.Paged(false), zeros_like(small.Query));
        Assert.True(flash.LastNumSplits > 1, $"batch 8 x 8192 used {flash.LastNumSplits} split(s)");
        flash.Forward(large.Paged(false), zeros_like(large.Query));
        Assert.Equal(1, flash.LastNumSplits);
    }

    [Fact]
    public void WorkspaceIsKeptAcrossCallsOfOneShape()
    {
        FlashAvailability.SkipUnlessAvailable();
        using var batch = new FlashTestBatch([3000, 20], 1, Heads, KvHeads, 256, ScalarType.BFloat16, seed: 3);
        using var flash = new FlashAttentionBackend();
        Tensor first = zeros_like(batch.Query), second = zeros_like(batch.Query);
        flash.Forward(batch.Paged(false), first);
        long bytes = flash.WorkspaceBytes;
        flash.Forward(batch.Paged(false), second);
        Assert.True(flash.LastNumSplits > 1, "a batch of 2 should be split");
        Assert.Equal(bytes, flash.WorkspaceBytes);
        Assert.True(FlashTestBatch.MaxAbsDiff(first, second) == 0, "the same call gave different results");
    }

    private static int[] RandomLengths(int count, int max, int seed, int min = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(min, max + 1)).ToArray();
    }
}
