using System.Globalization;
using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace PagedSim.Model.Tokenization;

/// <summary>
/// Splits text into the chunks that Meta's pattern (<see cref="Llama3Tokenizer.Pattern"/>) matches, code point by code
/// point, as tiktoken's Rust regex does:
/// <code>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</code>
/// Hand-written because .NET's regex sees UTF-16 units: a letter or digit above U+FFFF (𝑥, 𝟏, 𠀀) is two surrogates
/// that match neither <c>\p{L}</c> nor <c>\p{N}</c>, which would chunk (and so encode) such text differently.
/// Special tokens are not split out: text that looks like one is ordinary text.
/// </summary>
internal sealed class Llama3PreTokenizer : PreTokenizer
{
    /// <summary>The one instance (stateless).</summary>
    public static Llama3PreTokenizer Instance { get; } = new();

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        string.IsNullOrEmpty(text) ? [] : Split(text.AsSpan());

    /// <inheritdoc/>
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
        text.IsEmpty ? [] : Split(text);

    internal static List<(int Offset, int Length)> Split(ReadOnlySpan<char> text)
    {
        var chunks = new List<(int, int)>(text.Length / 4 + 1);
        int i = 0;
        while (i < text.Length)
        {
            int end = MatchAt(text, i);
            chunks.Add((i, end - i));
            i = end;
        }
        return chunks;
    }

    /// <summary>The end of the pattern's match at <paramref name="i"/> (alternatives tried in order; one always matches).</summary>
    private static int MatchAt(ReadOnlySpan<char> s, int i)
    {
        Kind first = KindAt(s, i, out int next);

        // (?i:'s|'t|'re|'ve|'m|'ll|'d) — case-insensitive with Unicode simple case folding (ſ folds to s).
        if (s[i] == '\'' && next < s.Length)
        {
            char a = s[next];
            if (a is 's' or 'S' or 'ſ' or 't' or 'T' or 'm' or 'M' or 'd' or 'D') return next + 1;
            if (next + 1 < s.Length)
            {
                char b = s[next + 1];
                if ((a is 'r' or 'R' && b is 'e' or 'E') || (a is 'v' or 'V' && b is 'e' or 'E') || (a is 'l' or 'L' && b is 'l' or 'L'))
                    return next + 2;
            }
        }

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (first == Kind.Letter) return SkipWhile(s, next, Kind.Letter);
        if (first != Kind.Number && s[i] is not ('\r' or '\n') && next < s.Length && KindAt(s, next, out int afterLetter) == Kind.Letter)
            return SkipWhile(s, afterLetter, Kind.Letter);

        // \p{N}{1,3}
        if (first == Kind.Number)
        {
            int end = next;
            for (int n = 1; n < 3 && end < s.Length && KindAt(s, end, out int after) == Kind.Number; n++) end = after;
            return end;
        }

        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        int otherStart = s[i] == ' ' && next < s.Length && KindAt(s, next, out _) == Kind.Other ? next : first == Kind.Other ? i : -1;
        if (otherStart >= 0)
        {
            int end = SkipWhile(s, otherStart, Kind.Other);
            while (end < s.Length && s[end] is '\r' or '\n') end++;
            return end;
        }

        // Here s[i] is white space. runEnd: the end of the white-space run.
        int runEnd = SkipWhile(s, i, Kind.Space);

        // \s*[\r\n]+ — \s* backs off to the run's last line break; [\r\n]+ then takes just that one.
        for (int k = runEnd - 1; k >= i; k--)
        {
            if (s[k] is '\r' or '\n') return k + 1;
        }

        // \s+(?!\S) — the whole run at the end of text, else all but its last character (if that leaves any).
        if (runEnd == s.Length) return runEnd;
        if (runEnd - 1 > i) return runEnd - 1; // white space is never above U+FFFF, so the last unit is one character

        // \s+
        return runEnd;
    }

    private enum Kind { Letter, Number, Space, Other }

    private static int SkipWhile(ReadOnlySpan<char> s, int i, Kind kind)
    {
        while (i < s.Length && KindAt(s, i, out int next) == kind) i = next;
        return i;
    }

    private static Kind KindAt(ReadOnlySpan<char> s, int i, out int next)
    {
        char c = s[i];
        if (c < 0x80)
        {
            next = i + 1;
            if ((uint)((c | 0x20) - 'a') <= 'z' - 'a') return Kind.Letter;
            if ((uint)(c - '0') <= 9) return Kind.Number;
            return c is ' ' or (>= '\t' and <= '\r') ? Kind.Space : Kind.Other;
        }
        UnicodeCategory category;
        if (Rune.DecodeFromUtf16(s[i..], out Rune rune, out int consumed) == OperationStatus.Done)
        {
            next = i + consumed;
            category = Rune.GetUnicodeCategory(rune);
            if (Rune.IsWhiteSpace(rune)) return Kind.Space;
        }
        else
        {
            next = i + 1; // a lone surrogate: neither letter, digit nor space
            return Kind.Other;
        }
        return category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }
}
