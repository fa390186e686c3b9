using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Paged;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// The library's paged decode kernel (both variants) against the reference backend on random data: block sizes 16 to
/// 256, ragged lengths up to 8192, shuffled block tables, 32 query / 8 KV heads; prompts go to its other backend.
/// </summary>
public class PagedDecodeAttentionTests
{
    private const int Heads = 32, KvHeads = 8;

    public static TheoryData<string, int[], int, PagedDecodeKernel> Cases()
    {
        var data = new TheoryData<string, int[], int, PagedDecodeKernel>();
        foreach (PagedDecodeKernel kernel in Enum.GetValues<PagedDecodeKernel>())
            foreach (int block in new[] { 16, 32, 64, 128, 256 })
            {
                data.Add($"b5 block edges {block}", [1, block - 1, block, block + 1, 300], block, kernel);
                data.Add($"b8 to 8192 {block}", [8192, 8000, 5000, 1, 4097, 8191, 300, 6000], block, kernel);
            }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decode_matches_the_reference(string name, int[] lengths, int blockSize, PagedDecodeKernel kernel)
    {
        SkipUnlessAvailable();
        using var batch = new FlashTestBatch(lengths, 1, Heads, KvHeads, blockSize, ScalarType.BFloat16, seed: name.Length);
        using var paged = new PagedDecodeAttention(new ReferenceAttention()) { Kernel = kernel };
        Tensor actual = zeros_like(batch.Query), again = zeros_like(batch.Query);
        paged.Forward(batch.Paged(causal: true), actual);
        paged.Forward(batch.Paged(causal: true), again);
        double error = FlashTestBatch.MaxAbsDiff(actual, batch.Expected(causal: true));
        Assert.True(error < 2e-2, $"{name} ({kernel}): max |paged - reference| = {error:E2} (splits {paged.LastNumSplits})");
        Assert.True(actual.to(ScalarType.Float32).allclose(again.to(ScalarType.Float32), rtol: 0, atol: 0), "two runs differ"); // bf16 values are exact in float32
    }

    [Fact]
    public void Prompt_chunks_go_to_the_other_backend()
    {
        SkipUnlessAvailable();
        using var batch = new FlashTestBatch([40, 300], 16, Heads, KvHeads, 16, ScalarType.BFloat16, seed: 3);
        using var paged = new PagedDecodeAttention(new ReferenceAttention());
        Tensor viaPaged = zeros_like(batch.Query), viaReference = zeros_like(batch.Query);
        paged.Forward(batch.Paged(causal: true), viaPaged);
        new ReferenceAttention().Forward(batch.Paged(causal: true), viaReference);
        Assert.Equal(0.0, FlashTestBatch.MaxAbsDiff(viaPaged, viaReference));
    }

    [Theory]
    [InlineData(16, new[] { 40, 300 }, 40)]
    [InlineData(16, new[] { 1, 17, 2589 }, 1)]          // one token a sequence, one of them its whole sequence
    [InlineData(32, new[] { 700, 129 }, 129)]
    [InlineData(48, new[] { 5, 47, 48, 49 }, 5)]         // a block size that is not a power of two
    public void Prompts_through_flash_over_gathered_blocks_match_the_reference(int blockSize, int[] lengths, int queryLength)
    {
        // Shuffled block tables at block sizes flash's paged kernel refuses: the gathered copy must put every key where
        // its position says, and the query chunk must end at its sequence's end (the causal mask is aligned there).
        SkipUnlessAvailable();
        using var batch = new FlashTestBatch(lengths, queryLength, Heads, KvHeads, blockSize, ScalarType.BFloat16, seed: blockSize + queryLength);
        using var gathered = new PagedSim.Model.Attention.Flash.GatheredFlashAttention();
        Tensor actual = zeros_like(batch.Query);
        gathered.Forward(batch.Paged(causal: true), actual);
        double error = FlashTestBatch.MaxAbsDiff(actual, batch.Expected(causal: true));
        Assert.True(error < 2e-2, $"block {blockSize}, lengths [{string.Join(", ", lengths)}], chunk {queryLength}: max |gathered flash - reference| = {error:E2}");
    }

    internal static void SkipUnlessAvailable()
    {
        CudaDevice.SkipUnlessAvailable();
        string? missing = PagedDecodeAttention.UnavailableReason;
        Assert.SkipWhen(missing is not null, $"No paged decode kernel: {missing}");
    }
}
