using System.Text.Json;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Tokenization;

namespace PagedSim.Golden.Tests.Gguf;

/// <summary>
/// The tokenizers a GGUF carries: stories260K's SentencePiece <c>llama</c> vocabulary (scores, byte fallback) and a
/// <c>gpt2</c> vocabulary written from Llama 3's tokenizer.model, which must encode exactly as Llama3Tokenizer does
/// (itself held to tiktoken by the tokenizer goldens).
/// </summary>
public sealed class GgufTokenizerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-ggtok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void StoriesVocabularyRoundTripsAndFallsBackToBytes()
    {
        GgufTokenizer tok = GgufTokenizer.Load(Stories260K.Path);
        Assert.Equal(("llama", 512, 1, 2), (tok.Model, tok.VocabSize, tok.BeginOfSequence, tok.EndOfSequence));
        string[] pieces = GgufMetadata.TryArray<string>(GgufFile.Open(Stories260K.Path), "tokenizer.ggml.tokens")!;
        foreach (string text in new[] { "Once upon a time, there was a dog.", "Zürich → 東京 🙂", "  two  spaces\nnew line" })
        {
            IReadOnlyList<int> ids = tok.Encode(text);
            Assert.Equal(text, tok.Decode(ids));
            if (!text.All(char.IsAscii)) Assert.Contains(ids, id => pieces[id].StartsWith("<0x", StringComparison.Ordinal)); // byte fallback
        }
        // The dummy prefix: a text starts as a word after a space ("▁Once"), as SentencePiece's add_dummy_prefix.
        Assert.Equal("▁Once", pieces[tok.Encode("Once")[0]]);
        Assert.Equal([1], tok.EncodePrompt(""));
    }

    [Fact]
    public void Gpt2VocabularyOfLlama3EncodesAsLlama3Tokenizer()
    {
        string tokenizerModel = PagedSim.Runner.Fixtures.Path("llama3/tokenizer.model");
        Llama3Tokenizer llama3 = Llama3Tokenizer.Load(tokenizerModel);
        // The GGUF spelling of the same vocabulary: each token's bytes in GPT-2's byte → char map, ordinary tokens
        // (type 1) then Meta's special tokens (type 3), as llama.cpp's converter writes Llama 3.
        var tokens = new List<string>();
        foreach (string line in File.ReadLines(tokenizerModel))
            if (line.Length > 0) tokens.Add(Gpt2BytesReference(Convert.FromBase64String(line.Split(' ')[0])));
        int ordinary = tokens.Count;
        tokens.AddRange(Llama3SpecialTokens.Names);
        int[] types = [.. Enumerable.Repeat(1, ordinary), .. Enumerable.Repeat(3, Llama3SpecialTokens.Count)];
        string path = Path.Combine(_dir, "llama3-vocab.gguf");
        new GgufWriter()
            .Add("general.architecture", "llama")
            .Add("tokenizer.ggml.model", "gpt2")
            .Add("tokenizer.ggml.pre", "llama-bpe")
            .Add("tokenizer.ggml.tokens", tokens.ToArray())
            .Add("tokenizer.ggml.token_type", types)
            .Add("tokenizer.ggml.bos_token_id", 128000u)
            .Add("tokenizer.ggml.eos_token_id", 128009u)
            .Save(path);

        GgufTokenizer tok = GgufTokenizer.Load(path);

        Assert.Equal("gpt2", tok.Model);
        Assert.NotNull(tok.Llama3);
        Assert.Equal(llama3.VocabSize, tok.VocabSize);
        Assert.Equal(llama3.BeginOfText, tok.BeginOfSequence);
        // tiktoken's ids for the golden texts (fixtures/tokenizer/golden.json, made by make-golden.mjs).
        using JsonDocument golden = JsonDocument.Parse(File.ReadAllBytes(PagedSim.Runner.Fixtures.Path("tokenizer/golden.json")));
        int checkedTexts = 0;
        foreach (JsonElement t in golden.RootElement.GetProperty("texts").EnumerateArray())
        {
            if (!t.TryGetProperty("text", out JsonElement textElement)) continue; // "parts" entries: texts split by the generator
            string text = textElement.GetString()!;
            int[] ids = t.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(ids, tok.Encode(text));
            Assert.Equal(text, tok.Decode(ids));
            checkedTexts++;
        }
        Assert.True(checkedTexts >= 10, $"only {checkedTexts} golden texts");
    }

    [Fact]
    public void ByteLevelVocabularyThatIsNotLlama3sIsRefusedByName()
    {
        string path = Path.Combine(_dir, "gpt2.gguf");
        new GgufWriter().Add("tokenizer.ggml.model", "gpt2").Add("tokenizer.ggml.tokens", new[] { "a", "b" }).Save(path);
        var e = Assert.Throws<TokenizerLoadException>(() => GgufTokenizer.Load(path));
        Assert.StartsWith($"{path}: gpt2 vocabulary that is not Llama 3's", e.Message);
    }

    /// <summary>GPT-2's bytes_to_unicode, written out from its definition (openai/gpt-2 encoder.py).</summary>
    private static string Gpt2BytesReference(byte[] bytes)
    {
        var bs = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToList();
        var cs = bs.ToList();
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            if (bs.Contains(b)) continue;
            bs.Add(b);
            cs.Add(256 + n++);
        }
        var map = bs.Zip(cs).ToDictionary(p => (byte)p.First, p => (char)p.Second);
        return new string(bytes.Select(b => map[b]).ToArray());
    }
}
