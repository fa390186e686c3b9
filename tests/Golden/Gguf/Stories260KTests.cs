using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Model.Tokenization;
using PagedSim.Runner;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Gguf;

/// <summary>
/// Real trained weights: stories260K from its GGUF, greedy from BOS alone on the CPU in float32, prints exactly the
/// sample llama2.c publishes (doc/stories260K.md; run.c is the reference implementation: 256 steps from BOS, stop at
/// BOS) through the paged and the naive cache; sampling tells a story too and is reproducible for a seed.
/// </summary>
public sealed class Stories260KTests
{
    private const int Steps = 256; // run.c's default: positions 0..255, BOS at 0, so 256 sampled tokens

    private static readonly Lazy<Llama3> s_model = new(() => Llama3.Load(Stories260K.Path, CPU, ScalarType.Float32, maxPositions: Steps + 1));
    private static readonly Lazy<GgufTokenizer> s_tokenizer = new(() => GgufTokenizer.Load(Stories260K.Path));

    internal static GenerationResult Greedy(Llama3 model, IKvCache cache, GgufTokenizer tok, int[] prompt, SamplingOptions? sampling = null,
        int maxNew = Steps) =>
        new BatchGenerator(model, cache, new ReferenceAttention())
            .Generate([new GenerationRequest(prompt, maxNew, tok.StopTokens)], new GenerationOptions(sampling, PrefillMode.Whole))[0];

    [Theory]
    [InlineData("paged", 16)]
    [InlineData("paged", 7)]
    [InlineData("naive", 0)]
    public void GreedyFromBosPrintsLlama2csPublishedSample(string cacheKind, int blockSize)
    {
        Llama3 model = s_model.Value;
        GgufTokenizer tok = s_tokenizer.Value;
        using IKvCache cache = cacheKind == "naive"
            ? new NaiveKvCache(model.Config, 1, Steps + 1, CPU, model.DType)
            : new PagedKvCache(model.Config, new KvCacheOptions((Steps + blockSize) / blockSize + 1, blockSize, Steps + 1), CPU, model.DType);

        GenerationResult r = Greedy(model, cache, tok, tok.EncodePrompt(""));

        Assert.Equal(Stories260K.PublishedGreedySample, tok.Decode(r.Tokens));
        // Token for token: the published text, tokenized, is the generated sequence.
        Assert.Equal(tok.Encode(Stories260K.PublishedGreedySample), r.Tokens);
        Assert.Equal(FinishReason.Length, r.Reason);
    }

    [Fact]
    public void GenerateCommandPrintsTheStory()
    {
        var console = new StringWriter();
        int rc = GenerateCommand.Run(new GenerateSettings(Stories260K.Path, null, [""], Steps, "paged", 16, "cpu", null,
            SamplingOptions.Greedy, PrefillMode.Whole, null), console);

        Assert.Equal(0, rc);
        string[] lines = console.ToString().Split('\n');
        Assert.StartsWith("prompt 0 (1 tokens) -> 256 new (length): ", lines[0]);
        Assert.Equal(Stories260K.PublishedGreedySample, string.Join('\n', lines[1..^2]));
        Assert.Contains("reference attention", lines[^2]);
    }

    [Fact]
    public void SamplingFromOnceUponATimeTellsAReproducibleStory()
    {
        Llama3 model = s_model.Value;
        GgufTokenizer tok = s_tokenizer.Value;
        int[] prompt = tok.EncodePrompt("Once upon a time");
        Assert.Equal(tok.BeginOfSequence, prompt[0]);
        Assert.Equal("Once upon a time", tok.Decode(prompt[1..]));

        string Story(int seed)
        {
            using IKvCache cache = new PagedKvCache(model.Config, new KvCacheOptions(20, 16, Steps + 1), CPU, model.DType);
            GenerationResult r = Greedy(model, cache, tok, prompt, new SamplingOptions(0.8, 0.9, seed), maxNew: Steps - prompt.Length);
            return tok.Decode([.. prompt[1..], .. r.Tokens]);
        }

        string a = Story(42), again = Story(42), b = Story(7);
        Assert.Equal(a, again);
        Assert.NotEqual(a, b);
        foreach (string story in new[] { a, b })
        {
            Assert.StartsWith("Once upon a time", story);
            Assert.DoesNotContain('\uFFFD', story);
            // Prose: mostly letters and spaces, sentences that end.
            Assert.True(story.Count(c => char.IsLetter(c) || c == ' ') > 0.8 * story.Length, story);
            Assert.Contains(". ", story);
        }
    }
}
