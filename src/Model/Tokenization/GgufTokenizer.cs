using System.Collections.Frozen;
using System.Text;
using Microsoft.ML.Tokenizers;
using PagedSim.Model.Checkpoints;

namespace PagedSim.Model.Tokenization;

/// <summary>
/// The tokenizer a GGUF file carries in its <c>tokenizer.ggml.*</c> metadata, on Microsoft.ML.Tokenizers:
/// <list type="bullet">
/// <item><c>llama</c> (SentencePiece BPE with scores and byte fallback, Llama 2 and llama2.c's models): the pieces,
/// scores and types become a SentencePiece <c>ModelProto</c> (<see cref="SentencePieceModelProto"/>) read by
/// <see cref="SentencePieceTokenizer"/>.</item>
/// <item><c>gpt2</c> (byte-level BPE, Llama 3's): when the vocabulary is Llama 3's (ordinary tokens, then Meta's 256
/// special tokens), its GPT-2-escaped tokens are turned back into bytes and ranked by id, which is exactly Meta's
/// tiktoken rank file, and <see cref="Llama3Tokenizer"/> encodes. Other byte-level vocabularies are refused.</item>
/// </list>
/// </summary>
public sealed class GgufTokenizer
{
    private readonly SentencePieceTokenizer? _sentencePiece;

    private GgufTokenizer(string model, int vocabSize, int bos, int? eos, IReadOnlySet<int> stops,
        SentencePieceTokenizer? sentencePiece, Llama3Tokenizer? llama3)
    {
        Model = model;
        VocabSize = vocabSize;
        BeginOfSequence = bos;
        EndOfSequence = eos;
        StopTokens = stops;
        _sentencePiece = sentencePiece;
        Llama3 = llama3;
    }

    /// <summary><c>tokenizer.ggml.model</c>: <c>llama</c> or <c>gpt2</c>.</summary>
    public string Model { get; }

    /// <summary>Tokens in the vocabulary.</summary>
    public int VocabSize { get; }

    /// <summary>The BOS id every prompt starts with.</summary>
    public int BeginOfSequence { get; }

    /// <summary>The EOS id, when the file names one.</summary>
    public int? EndOfSequence { get; }

    /// <summary>
    /// Ids that end generation. <c>llama</c> vocabularies: EOS and BOS (llama2.c's models were trained on stories
    /// separated by BOS, and its <c>run.c</c> stops there); Llama 3's: <c>&lt;|end_of_text|&gt;</c> and <c>&lt;|eot_id|&gt;</c>.
    /// </summary>
    public IReadOnlySet<int> StopTokens { get; }

    /// <summary>The Llama 3 tokenizer when the vocabulary is Llama 3's (for its chat format), else null.</summary>
    public Llama3Tokenizer? Llama3 { get; }

    /// <summary>Reads the tokenizer of a GGUF file.</summary>
    /// <exception cref="CheckpointException">The file is not a valid GGUF file.</exception>
    /// <exception cref="TokenizerLoadException">It has no tokenizer, or one this class cannot build.</exception>
    public static GgufTokenizer Load(string path) => FromGguf(GgufFile.Open(path));

    /// <summary>Text → ids, without BOS.</summary>
    public IReadOnlyList<int> Encode(string text) =>
        _sentencePiece is not null
            ? _sentencePiece.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false)
            : Llama3!.Encode(text);

    /// <summary>BOS, then the text's ids; an empty text is BOS alone (as llama2.c's <c>run.c</c> starts).</summary>
    public int[] EncodePrompt(string text) => [BeginOfSequence, .. text.Length == 0 ? [] : Encode(text)];

    /// <summary>
    /// Ids that follow BOS → text: byte pieces joined into UTF-8, control tokens dropped, and the leading space of the
    /// first piece removed (the dummy prefix; <c>run.c</c> strips it after BOS likewise).
    /// </summary>
    public string Decode(IEnumerable<int> ids) =>
        _sentencePiece is not null ? _sentencePiece.Decode(ids, considerSpecialTokens: false) : Llama3!.Decode(ids);

    internal static GgufTokenizer FromGguf(GgufFile f)
    {
        string model = GgufMetadata.TryString(f, "tokenizer.ggml.model")
            ?? throw new TokenizerLoadException(f.Path, "no tokenizer (tokenizer.ggml.model is missing)");
        string[] tokens = GgufMetadata.TryArray<string>(f, "tokenizer.ggml.tokens")
            ?? throw new TokenizerLoadException(f.Path, "tokenizer.ggml.tokens is missing");
        int[] types = GgufMetadata.TryArray<int>(f, "tokenizer.ggml.token_type") ?? Enumerable.Repeat(SentencePieceModelProto.Normal, tokens.Length).ToArray();
        if (types.Length != tokens.Length)
            throw new TokenizerLoadException(f.Path, $"tokenizer.ggml.token_type has {types.Length} entries for {tokens.Length} tokens");
        int? bos = GgufMetadata.TryInt(f, "tokenizer.ggml.bos_token_id");
        int? eos = GgufMetadata.TryInt(f, "tokenizer.ggml.eos_token_id");
        foreach ((string key, int? id) in new[] { ("bos", bos), ("eos", eos) })
            if (id is int v && (uint)v >= (uint)tokens.Length)
                throw new TokenizerLoadException(f.Path, $"tokenizer.ggml.{key}_token_id {v} is outside the {tokens.Length} tokens");
        return model switch
        {
            "llama" => SentencePiece(f, tokens, types, bos ?? 1, eos ?? 2),
            "gpt2" => ByteLevel(f, tokens, types),
            _ => throw new TokenizerLoadException(f.Path, $"tokenizer.ggml.model '{model}' is not supported (llama and gpt2 are)"),
        };
    }

    private static GgufTokenizer SentencePiece(GgufFile f, string[] tokens, int[] types, int bos, int eos)
    {
        float[] scores = GgufMetadata.TryArray<float>(f, "tokenizer.ggml.scores")
            ?? throw new TokenizerLoadException(f.Path, "tokenizer.ggml.scores is missing (a llama vocabulary needs them)");
        if (scores.Length != tokens.Length)
            throw new TokenizerLoadException(f.Path, $"tokenizer.ggml.scores has {scores.Length} entries for {tokens.Length} tokens");
        if (tokens.Distinct(StringComparer.Ordinal).Count() != tokens.Length)
            throw new TokenizerLoadException(f.Path, "tokenizer.ggml.tokens holds the same piece twice");
        int unk = GgufMetadata.TryInt(f, "tokenizer.ggml.unknown_token_id") ?? 0;
        bool addSpace = !f.Metadata.TryGetValue("tokenizer.ggml.add_space_prefix", out object? a) || a is true;
        bool byteFallback = types.Contains(SentencePieceModelProto.Byte);
        byte[] proto = SentencePieceModelProto.Write(tokens, scores, types, unk, bos, eos, byteFallback, addSpace);
        SentencePieceTokenizer sp;
        try
        {
            sp = SentencePieceTokenizer.Create(new MemoryStream(proto), false, false);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new TokenizerLoadException(f.Path, $"unusable llama vocabulary ({e.Message.Split('\n')[0]})", e);
        }
        return new GgufTokenizer("llama", tokens.Length, bos, eos, new HashSet<int> { bos, eos }.ToFrozenSet(), sp, null);
    }

    private static GgufTokenizer ByteLevel(GgufFile f, string[] tokens, int[] types)
    {
        int ordinary = Array.FindIndex(types, t => t != SentencePieceModelProto.Normal);
        if (ordinary < 0) ordinary = tokens.Length;
        bool llama3 = tokens.Length == ordinary + Llama3SpecialTokens.Count
            && Enumerable.Range(0, Llama3SpecialTokens.Count).All(i => tokens[ordinary + i] == Llama3SpecialTokens.Names[i]);
        if (!llama3)
            throw new TokenizerLoadException(f.Path,
                "gpt2 vocabulary that is not Llama 3's (ordinary tokens followed by Meta's 256 special tokens) is not supported");
        var ranks = new StringBuilder(ordinary * 12);
        for (int id = 0; id < ordinary; id++)
        {
            byte[] bytes = Gpt2Bytes.Decode(tokens[id])
                ?? throw new TokenizerLoadException(f.Path, $"token {id} is not a GPT-2 byte-level token");
            ranks.Append(Convert.ToBase64String(bytes)).Append(' ').Append(id).Append('\n');
        }
        Llama3Tokenizer tokenizer = Llama3Tokenizer.FromRanks(f.Path, Encoding.UTF8.GetBytes(ranks.ToString()));
        return new GgufTokenizer("gpt2", tokenizer.VocabSize, tokenizer.BeginOfText, tokenizer.EndOfText, tokenizer.StopTokens, null, tokenizer);
    }
}
