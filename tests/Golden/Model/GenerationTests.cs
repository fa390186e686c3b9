using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

using PagedSim.Tests.Shared;

namespace PagedSim.Golden.Tests.Model;

/// <summary>Generation behaviour beyond greedy ids: stopping, freeing blocks at once, sampling.</summary>
public class GenerationTests
{
    [Fact]
    public void StoppedRequestReturnsItsBlocksAtOnceSoOthersCanGrow()
    {
        Llama3 model = TinyLlama.Model("meta");
        TinyLlamaReference r = TinyLlama.Expected;
        int[] longPrompt = r.Prompts[3], shortPrompt = r.Prompts[0];
        int longTotal = longPrompt.Length + r.Generated[3].Length;
        const int blockSize = 4;
        // Exactly the blocks the long request needs at its end: it can only finish if the short request's block
        // came back when that request stopped (on its first token).
        int blocks = (longTotal + blockSize - 1) / blockSize;
        using var cache = new PagedKvCache(model.Config, new KvCacheOptions(blocks, blockSize, 256), CPU, model.DType);
        GenerationRequest[] requests =
        [
            new(longPrompt, r.Generated[3].Length),
            new(shortPrompt, 10, new HashSet<int> { r.Generated[0][0] }),
        ];

        IReadOnlyList<GenerationResult> results = new BatchGenerator(model, cache, new ReferenceAttention()).Generate(requests);

        Assert.Equal(r.Generated[3], results[0].Tokens);
        Assert.Equal(FinishReason.Stop, results[1].Reason);
        Assert.Equal(r.Generated[0][0], results[1].StopToken);
        Assert.Empty(results[1].Tokens);
        Assert.Equal(blocks, cache.Manager.FreeBlocks);
    }

    [Fact]
    public void WithoutRoomForEveryoneTheCacheRunsOutOfBlocks()
    {
        // The same setup with no stop token: both requests stay, and the long one cannot grow to its end.
        Llama3 model = TinyLlama.Model("meta");
        TinyLlamaReference r = TinyLlama.Expected;
        int blocks = (r.Prompts[3].Length + r.Generated[3].Length + 3) / 4;
        using var cache = new PagedKvCache(model.Config, new KvCacheOptions(blocks, 4, 256), CPU, model.DType);
        GenerationRequest[] requests = [new(r.Prompts[3], r.Generated[3].Length), new(r.Prompts[0], r.Generated[3].Length)];

        Assert.Throws<OutOfBlocksException>(() => new BatchGenerator(model, cache, new ReferenceAttention()).Generate(requests));
        Assert.Equal(blocks, cache.Manager.FreeBlocks); // a failed run leaves the cache empty
    }

    [Fact]
    public void MaxNewTokensBoundsEachRequestSeparately()
    {
        Llama3 model = TinyLlama.Model("hf");
        TinyLlamaReference r = TinyLlama.Expected;
        using IKvCache cache = TinyLlama.PagedCache(model, 8);
        var requests = r.Prompts.Select((p, i) => new GenerationRequest(p, 3 + 5 * i)).ToArray();

        IReadOnlyList<GenerationResult> results = TinyLlama.Generate(model, cache, requests);

        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(r.Generated[i].Take(3 + 5 * i), results[i].Tokens);
    }

    [Fact]
    public void OverlappedGreedyDecodeMatchesTheStepByStepLoop()
    {
        // Greedy decode prepares each pass while the previous one runs; recording logits takes the plain loop.
        // Stop tokens end requests that were already prepared for the next pass; some requests end with the prompt.
        Llama3 model = TinyLlama.Model("meta");
        TinyLlamaReference r = TinyLlama.Expected;
        var requests = r.Prompts.Select((p, i) => new GenerationRequest(p, i == 1 ? 1 : 12,
            i == 2 ? new HashSet<int> { r.Generated[2][4] } : i == 3 ? new HashSet<int> { r.Generated[3][1] } : null)).ToArray();
        IReadOnlyList<GenerationResult> Run(IReadOnlyList<GenerationRequest> rs, bool recordLogits)
        {
            using IKvCache cache = TinyLlama.PagedCache(model, 4);
            var generator = new BatchGenerator(model, cache, new ReferenceAttention());
            IReadOnlyList<GenerationResult> results = generator.Generate(rs, new GenerationOptions(RecordLogits: recordLogits));
            Assert.Empty(cache.Running.ToArray()); // every block back
            return results;
        }

        IReadOnlyList<GenerationResult> overlapped = Run(requests, false), plain = Run(requests, true);
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(plain[i].Tokens, overlapped[i].Tokens);
            Assert.Equal(plain[i].Reason, overlapped[i].Reason);
        }
        Assert.Equal(r.Generated[2].Take(4), overlapped[2].Tokens);
        Assert.Equal(FinishReason.Stop, overlapped[3].Reason);
        Assert.Single(overlapped[1].Tokens);
        Assert.All(Run([.. requests.Select(q => q with { MaxNewTokens = 1 })], false), x => Assert.Single(x.Tokens));
    }

    [Fact]
    public void SamplingIsSeededAndNearZeroTemperatureIsGreedy()
    {
        Llama3 model = TinyLlama.Model("meta");
        TinyLlamaReference r = TinyLlama.Expected;
        var requests = r.Prompts.Select((p, i) => new GenerationRequest(p, 12)).ToArray();
        IReadOnlyList<GenerationResult> Run(SamplingOptions s)
        {
            using IKvCache cache = TinyLlama.PagedCache(model, 16);
            return new BatchGenerator(model, cache, new ReferenceAttention()).Generate(requests, new GenerationOptions(s));
        }

        var a = Run(new SamplingOptions(1.0, 0.9, Seed: 7));
        var b = Run(new SamplingOptions(1.0, 0.9, Seed: 7));
        var c = Run(new SamplingOptions(1.0, 0.9, Seed: 8));
        var cold = Run(new SamplingOptions(1e-4, 1.0, Seed: 3));   // margins are >= 0.03: probabilities ~ one-hot
        var narrow = Run(new SamplingOptions(5.0, 1e-9, Seed: 3)); // top-p keeps only the most likely token

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(a[i].Tokens, b[i].Tokens);
            Assert.Equal(r.Generated[i].Take(12), cold[i].Tokens);
            Assert.Equal(r.Generated[i].Take(12), narrow[i].Tokens);
        }
        Assert.NotEqual(a.SelectMany(x => x.Tokens), c.SelectMany(x => x.Tokens));
        Assert.NotEqual(a.SelectMany(x => x.Tokens), r.Generated.SelectMany(g => g.Take(12)));
    }
}
