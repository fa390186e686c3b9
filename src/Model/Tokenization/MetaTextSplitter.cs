using System.Text;

namespace PagedSim.Model.Tokenization;

/// <summary>
/// Meta's guard around tiktoken (<c>Tokenizer.encode</c> in the reference): the text is cut into pieces of at most
/// 400,000 characters, and each piece wherever a run of whitespace or of non-whitespace grows past 25,000 characters.
/// Pieces are encoded separately, so the cuts change the ids of such runs; doing the same keeps the ids equal to Meta's.
/// "Characters" are Unicode code points and "whitespace" is Python's <c>str.isspace</c>, as in the reference.
/// </summary>
internal static class MetaTextSplitter
{
    /// <summary>Meta's <c>TIKTOKEN_MAX_ENCODE_CHARS</c>.</summary>
    public const int MaxEncodeChars = 400_000;

    /// <summary>Meta's <c>MAX_NO_WHITESPACES_CHARS</c>.</summary>
    public const int MaxRunChars = 25_000;

    /// <summary>Calls <paramref name="encodePiece"/> with the offset and length of each piece, in order.</summary>
    public static void Split(ReadOnlySpan<char> text, Action<int, int> encodePiece)
    {
        // Fast path: a text this short can neither hold a 400k piece nor a run past 25k code points.
        if (text.Length <= MaxRunChars)
        {
            encodePiece(0, text.Length);
            return;
        }
        int pieceStart = 0;
        while (pieceStart < text.Length)
        {
            int pieceEnd = AdvanceCodePoints(text, pieceStart, MaxEncodeChars);
            SplitRuns(text, pieceStart, pieceEnd, encodePiece);
            pieceStart = pieceEnd;
        }
    }

    // _split_whitespaces_or_nonwhitespaces over text[start..end).
    private static void SplitRuns(ReadOnlySpan<char> text, int start, int end, Action<int, int> encodePiece)
    {
        int sliceStart = start;
        int runLength = 0;
        bool runIsSpace = IsPythonSpace(text[start]);
        int i = start;
        while (i < end)
        {
            bool isSpace = IsPythonSpace(text[i]);
            if (isSpace != runIsSpace)
            {
                runLength = 1;
                runIsSpace = isSpace;
            }
            else if (++runLength > MaxRunChars)
            {
                encodePiece(sliceStart, i - sliceStart);
                sliceStart = i;
                runLength = 1;
            }
            i += i + 1 < end && char.IsSurrogatePair(text[i], text[i + 1]) ? 2 : 1;
        }
        encodePiece(sliceStart, end - sliceStart);
    }

    private static int AdvanceCodePoints(ReadOnlySpan<char> text, int start, int count)
    {
        int i = start;
        for (int n = 0; n < count && i < text.Length; n++)
            i += i + 1 < text.Length && char.IsSurrogatePair(text[i], text[i + 1]) ? 2 : 1;
        return i;
    }

    /// <summary>Python's <c>str.isspace</c> for one character: .NET's white space plus U+001C..U+001F (which Python
    /// counts as separators). No code point above U+FFFF is white space in either.</summary>
    internal static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || (c >= '\u001c' && c <= '\u001f');
}
