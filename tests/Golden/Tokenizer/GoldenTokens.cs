using System.Text.Json;
using PagedSim.Model.Tokenization;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Tokenizer;

/// <summary>fixtures/tokenizer/golden.json (ids computed by tiktoken, see make-golden.mjs) and the tokenizer under test,
/// loaded once.</summary>
internal static class GoldenTokens
{
    private static readonly Lazy<JsonElement> s_golden = new(() =>
        JsonDocument.Parse(File.ReadAllText(Fixtures.Path("tokenizer/golden.json"))).RootElement);

    private static readonly Lazy<Llama3Tokenizer> s_tokenizer = new(() => Llama3Tokenizer.Load(Fixtures.Path("llama3/tokenizer.model")));

    public static JsonElement Root => s_golden.Value;

    public static Llama3Tokenizer Tokenizer => s_tokenizer.Value;

    public static JsonElement Text(string name) => Root.GetProperty("texts").EnumerateArray().Single(t => t.GetProperty("name").GetString() == name);

    public static JsonElement Dialog(string name) => Root.GetProperty("dialogs").EnumerateArray().Single(t => t.GetProperty("name").GetString() == name);

    public static IEnumerable<string> Names(string section) => Root.GetProperty(section).EnumerateArray().Select(t => t.GetProperty("name").GetString()!);

    /// <summary>The case's text: "text", or the concatenated repetitions of "parts".</summary>
    public static string TextOf(JsonElement c) => c.TryGetProperty("text", out JsonElement text)
        ? text.GetString()!
        : string.Concat(c.GetProperty("parts").EnumerateArray().Select(p => string.Concat(Enumerable.Repeat(p[0].GetString()!, p[1].GetInt32()))));

    public static int[] Ids(JsonElement array) => array.EnumerateArray().Select(x => x.GetInt32()).ToArray();
}
