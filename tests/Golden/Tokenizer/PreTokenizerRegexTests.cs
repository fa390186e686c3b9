using System.Text;
using System.Text.RegularExpressions;
using PagedSim.Model.Tokenization;

namespace PagedSim.Golden.Tests.Tokenizer;

/// <summary>The hand-written pre-tokenizer against .NET's regex engine running Meta's pattern, on random text of
/// characters below U+10000 (where the two must agree; above it .NET's regex sees surrogates, see golden.json's
/// astral cases instead).</summary>
public sealed class PreTokenizerRegexTests
{
    // Letters, digits, every kind of white space the pattern treats specially, apostrophes before contraction letters,
    // punctuation, CJK, combining marks, symbols.
    private const string Alphabet = "aZsStTmMdDrReEvVlLé中文ß0912٣ \t\n\r\u000b\u000c\u00a0\u2003\u3000\u0085'\"!?.,;:-_<|>(){}[]#@%&*+=/\\~`^\u0301\u20ac©";

    [Fact]
    public void Chunks_equal_the_regex_matches_on_random_text()
    {
        var regex = new Regex(Llama3Tokenizer.Pattern, RegexOptions.CultureInvariant);
        var random = new Random(20261125);
        var text = new StringBuilder();
        for (int n = 0; n < 3000; n++)
        {
            text.Clear();
            int length = random.Next(0, 40);
            for (int i = 0; i < length; i++) text.Append(Alphabet[random.Next(Alphabet.Length)]);
            string s = text.ToString();

            var expected = regex.Matches(s).Select(m => (m.Index, m.Length)).ToArray();
            var actual = Llama3PreTokenizer.Split(s).ToArray();

            Assert.True(expected.SequenceEqual(actual), $"\"{Escape(s)}\": regex {Show(s, expected)} vs {Show(s, actual)}");
        }
    }

    [Fact]
    public void Chunks_cover_the_text_exactly()
    {
        string s = GoldenTokens.TextOf(GoldenTokens.Text("whitespace-mix"));
        var chunks = Llama3PreTokenizer.Split(s);

        Assert.Equal(s, string.Concat(chunks.Select(c => s.Substring(c.Offset, c.Length))));
    }

    private static string Show(string s, (int Offset, int Length)[] chunks) =>
        string.Join(" | ", chunks.Select(c => Escape(s.Substring(c.Offset, c.Length))));

    private static string Escape(string s) => string.Concat(s.Select(c => c < 0x20 || c > 0x7e ? $"\\u{(int)c:x4}" : c.ToString()));
}
