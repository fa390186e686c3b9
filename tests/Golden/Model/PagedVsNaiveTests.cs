using PagedSim.Model;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// Paged and naive caches must give the same greedy ids, and logits within 1e-5, for random prompt sets: mixed prompt
/// lengths (1 to 40), mixed lengths to generate, stop tokens that end some requests early, and block sizes from 1
/// (smaller than every prompt) to 128 (larger than every whole sequence).
/// </summary>
public class PagedVsNaiveTests
{
    private static readonly int[] s_blockSizes = [1, 2, 3, 7, 16, 128];

    public static TheoryData<int> Seeds() => [.. Enumerable.Range(0, 24)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void SameIdsAndLogits(int seed)
    {
        var random = new Random(seed);
        Llama3 model = TinyLlama.Model("meta");
        int blockSize = s_blockSizes[seed % s_blockSizes.Length];
        int batch = random.Next(1, 6);
        var requests = new GenerationRequest[batch];
        for (int i = 0; i < batch; i++)
        {
            int[] prompt = Enumerable.Range(0, random.Next(1, 41)).Select(_ => random.Next(model.Config.VocabSize)).ToArray();
            // A few dozen stop ids out of 256: some requests stop early, freeing their room mid-batch.
            HashSet<int>? stops = random.Next(2) == 0 ? null : Enumerable.Range(0, 24).Select(_ => random.Next(model.Config.VocabSize)).ToHashSet();
            requests[i] = new GenerationRequest(prompt, random.Next(1, 17), stops);
        }

        using var paged = (PagedKvCache)TinyLlama.PagedCache(model, blockSize, maxSequenceLength: 64);
        using IKvCache naive = TinyLlama.NaiveCache(model, rows: 5, maxSequenceLength: 64);
        IReadOnlyList<GenerationResult> p = TinyLlama.Generate(model, paged, requests);
        IReadOnlyList<GenerationResult> n = TinyLlama.Generate(model, naive, requests);

        for (int i = 0; i < batch; i++)
        {
            Assert.Equal(n[i].Tokens, p[i].Tokens);
            Assert.Equal(n[i].Reason, p[i].Reason);
            Assert.Equal(n[i].StopToken, p[i].StopToken);
            double diff = HuggingFaceReferenceTests.MaxAbsDiff(n[i].Logits!, p[i].Logits!);
            Assert.True(diff <= 1e-5, $"request {i}: max |paged - naive| = {diff:E3}");
        }
        Assert.Equal(paged.Manager.TotalBlocks, paged.Manager.FreeBlocks); // every block returned
        Assert.Equal(0, naive.Running.Length);
    }
}
