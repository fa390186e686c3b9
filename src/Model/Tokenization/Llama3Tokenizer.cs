using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace PagedSim.Model.Tokenization;

/// <summary>
/// Llama 3's tokenizer: byte-level BPE over Meta's <c>tokenizer.model</c> (tiktoken format: a base64 token and its rank
/// per line), Meta's pre-tokenization pattern and the 256 special tokens of the reference <c>tokenizer.py</c>. Built on
/// Microsoft.ML.Tokenizers' <see cref="TiktokenTokenizer"/>; ids equal Meta's (checked against tiktoken by the golden
/// tests).
/// </summary>
public sealed class Llama3Tokenizer
{
    /// <summary>Meta's <c>pat_str</c> (applied by <see cref="Llama3PreTokenizer"/>).</summary>
    internal const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly TiktokenTokenizer _tiktoken;
    private readonly FrozenDictionary<string, int> _specialTokens;

    private Llama3Tokenizer(TiktokenTokenizer tiktoken, FrozenDictionary<string, int> specialTokens, int vocabSize)
    {
        _tiktoken = tiktoken;
        _specialTokens = specialTokens;
        VocabSize = vocabSize;
        BeginOfText = specialTokens["<|begin_of_text|>"];
        EndOfText = specialTokens["<|end_of_text|>"];
        EotId = specialTokens["<|eot_id|>"];
        StartHeaderId = specialTokens["<|start_header_id|>"];
        EndHeaderId = specialTokens["<|end_header_id|>"];
        StopTokens = new HashSet<int> { EndOfText, EotId }.ToFrozenSet();
    }

    /// <summary><c>&lt;|begin_of_text|&gt;</c> (128000): starts every prompt.</summary>
    public int BeginOfText { get; }

    /// <summary><c>&lt;|end_of_text|&gt;</c> (128001).</summary>
    public int EndOfText { get; }

    /// <summary><c>&lt;|eot_id|&gt;</c> (128009): ends a chat turn.</summary>
    public int EotId { get; }

    /// <summary><c>&lt;|start_header_id|&gt;</c> (128006).</summary>
    public int StartHeaderId { get; }

    /// <summary><c>&lt;|end_header_id|&gt;</c> (128007).</summary>
    public int EndHeaderId { get; }

    /// <summary>Ids that end generation: <c>&lt;|end_of_text|&gt;</c> and <c>&lt;|eot_id|&gt;</c>.</summary>
    public IReadOnlySet<int> StopTokens { get; }

    /// <summary>Base tokens plus special tokens (128256 for Meta's file).</summary>
    public int VocabSize { get; }

    /// <summary>Loads Meta's <c>tokenizer.model</c>.</summary>
    /// <exception cref="TokenizerLoadException">The file is missing, unreadable or not a tiktoken rank file.</exception>
    public static Llama3Tokenizer Load(string tokenizerModelPath)
    {
        if (Directory.Exists(tokenizerModelPath)) throw new TokenizerLoadException(tokenizerModelPath, "is a directory, not a tokenizer.model file");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(tokenizerModelPath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new TokenizerLoadException(tokenizerModelPath, "file not found", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerLoadException(tokenizerModelPath, $"cannot read ({e.Message})", e);
        }

        return FromRanks(tokenizerModelPath, bytes);
    }

    /// <summary>
    /// Builds the tokenizer from the bytes of a tiktoken rank file (<paramref name="source"/> names where they came
    /// from, for messages): e.g. Meta's file, or the ranks a Llama 3 GGUF's <c>gpt2</c> vocabulary spells.
    /// </summary>
    internal static Llama3Tokenizer FromRanks(string source, byte[] bytes)
    {
        string tokenizerModelPath = source;
        int baseTokens = CheckRanks(tokenizerModelPath, bytes);
        var special = new Dictionary<string, int>(Llama3SpecialTokens.Count);
        for (int i = 0; i < Llama3SpecialTokens.Names.Count; i++) special.Add(Llama3SpecialTokens.Names[i], baseTokens + i);

        // The pre-tokenizer knows no special tokens, so text that merely looks like one ("<|eot_id|>" typed by a user)
        // is split and encoded as ordinary text, as Meta's encode does by default (disallowed_special=()).
        // The tokenizer itself knows them, so that Decode renders special ids.
        TiktokenTokenizer tiktoken;
        try
        {
            tiktoken = TiktokenTokenizer.Create(new MemoryStream(bytes, writable: false), Llama3PreTokenizer.Instance, normalizer: null, special);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or ArgumentException)
        {
            throw new TokenizerLoadException(tokenizerModelPath, $"not a tiktoken rank file ({e.Message})", e);
        }
        return new Llama3Tokenizer(tiktoken, special.ToFrozenDictionary(), baseTokens + Llama3SpecialTokens.Count);
    }

    /// <summary>Encodes plain text: no BOS/EOS, and special-token-looking text is encoded as ordinary text.</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        MetaTextSplitter.Split(text, (start, length) =>
        {
            if (length == 0) return;
            string piece = start == 0 && length == text.Length ? text : text.Substring(start, length);
            ids.AddRange(_tiktoken.EncodeToIds(piece, considerPreTokenization: true, considerNormalization: false));
        });
        return ids;
    }

    /// <summary>Decodes ids to text (special ids as their names); byte sequences that are not valid UTF-8 become
    /// U+FFFD, as tiktoken's <c>decode</c> with <c>errors="replace"</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside <c>[0, VocabSize)</c>.</exception>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        IReadOnlyList<int> list = ids as IReadOnlyList<int> ?? ids.ToArray();
        for (int i = 0; i < list.Count; i++)
        {
            if ((uint)list[i] >= (uint)VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), list[i], $"Token id at position {i} is outside the vocabulary [0, {VocabSize}).");
        }
        return _tiktoken.Decode(list);
    }

    /// <summary>The id of a special token by name, e.g. <c>"&lt;|reserved_special_token_0|&gt;"</c>.</summary>
    /// <exception cref="KeyNotFoundException">No special token has that name.</exception>
    public int SpecialTokenId(string name) =>
        _specialTokens.TryGetValue(name, out int id) ? id : throw new KeyNotFoundException($"\"{name}\" is not a Llama 3 special token.");

    // Validates the rank file up front, so a corrupt file gets a message naming the line, and counts its tokens
    // (special ids start right after them, as in Meta's reference). Ranks must be 0, 1, 2, ... in order.
    private static int CheckRanks(string path, byte[] bytes)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new TokenizerLoadException(path, "not a tiktoken rank file (not UTF-8 text)", e);
        }
        int count = 0;
        int lineNumber = 0;
        Span<byte> scratch = stackalloc byte[256];
        foreach (ReadOnlySpan<char> rawLine in text.AsSpan().EnumerateLines())
        {
            lineNumber++;
            ReadOnlySpan<char> line = rawLine.Trim();
            if (line.IsEmpty) continue;
            int space = line.IndexOf(' ');
            if (space <= 0
                || !Convert.TryFromBase64Chars(line[..space], scratch, out int tokenBytes) || tokenBytes == 0
                || !int.TryParse(line[(space + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int rank))
                throw new TokenizerLoadException(path, $"line {lineNumber} is not \"<base64 token> <rank>\"");
            if (rank != count)
                throw new TokenizerLoadException(path, $"line {lineNumber}: rank {rank} out of order (expected {count})");
            count++;
        }
        if (count == 0) throw new TokenizerLoadException(path, "no tokens (empty file)");
        return count;
    }
}
