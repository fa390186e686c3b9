using System.Text.Json;
using PagedSim.Model.Tokenization;

namespace PagedSim.Golden.Tests.Tokenizer;

/// <summary>Encode/decode against ids computed by tiktoken with Meta's setup (fixtures/tokenizer/golden.json).</summary>
public sealed class Llama3TokenizerGoldenTests
{
    public static TheoryData<string> TextCases => new(GoldenTokens.Names("texts"));

    public static TheoryData<string> DialogCases => new(GoldenTokens.Names("dialogs"));

    [Theory]
    [MemberData(nameof(TextCases))]
    public void Encode_matches_tiktoken(string name)
    {
        JsonElement c = GoldenTokens.Text(name);
        int[] expected = GoldenTokens.Ids(c.GetProperty("ids"));

        IReadOnlyList<int> actual = GoldenTokens.Tokenizer.Encode(GoldenTokens.TextOf(c));

        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(TextCases))]
    public void Decode_of_encode_gives_the_text_back(string name)
    {
        string text = GoldenTokens.TextOf(GoldenTokens.Text(name));

        Assert.Equal(text, GoldenTokens.Tokenizer.Decode(GoldenTokens.Tokenizer.Encode(text)));
    }

    [Theory]
    [MemberData(nameof(DialogCases))]
    public void Dialog_prompt_matches_encode_dialog_prompt(string name)
    {
        JsonElement c = GoldenTokens.Dialog(name);
        ChatMessage[] dialog = c.GetProperty("dialog").EnumerateArray()
            .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToArray();

        List<int> actual = new ChatFormat(GoldenTokens.Tokenizer).EncodeDialogPrompt(dialog);

        Assert.Equal(GoldenTokens.Ids(c.GetProperty("ids")), actual);
    }

    [Fact]
    public void ShareGpt_prompts_and_answers_match()
    {
        var chat = new ChatFormat(GoldenTokens.Tokenizer);
        using JsonDocument sharegpt = JsonDocument.Parse(File.ReadAllText(PagedSim.Runner.Fixtures.Path("sharegpt-filtered.json")));
        foreach (JsonElement c in GoldenTokens.Root.GetProperty("sharegpt").EnumerateArray())
        {
            string id = c.GetProperty("id").GetString()!;
            JsonElement messages = sharegpt.RootElement.EnumerateArray().Single(x => x.GetProperty("id").GetString() == id).GetProperty("conversations");
            string prompt = messages[0].GetProperty("value").GetString()!;
            string answer = messages[1].GetProperty("value").GetString()!;

            Assert.Equal(GoldenTokens.Ids(c.GetProperty("prompt_ids")), chat.EncodeDialogPrompt([new ChatMessage("user", prompt)]));
            Assert.Equal(GoldenTokens.Ids(c.GetProperty("answer_ids")), GoldenTokens.Tokenizer.Encode(ChatFormat.StripPython(answer)));
            Assert.Equal(prompt, GoldenTokens.Tokenizer.Decode(GoldenTokens.Tokenizer.Encode(prompt)));
        }
    }

    [Fact]
    public void Special_looking_text_is_plain_text_and_decodes_back()
    {
        Llama3Tokenizer tokenizer = GoldenTokens.Tokenizer;

        IReadOnlyList<int> ids = tokenizer.Encode("<|eot_id|>");

        Assert.DoesNotContain(ids, id => id >= 128000);
        Assert.Equal("<|eot_id|>", tokenizer.Decode(ids));
    }

    [Fact]
    public void Special_ids_decode_to_their_names()
    {
        Llama3Tokenizer tokenizer = GoldenTokens.Tokenizer;

        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>", tokenizer.Decode([128000, 128006, 882, 128007]));
        Assert.Equal("<|eot_id|>", tokenizer.Decode([128009]));
    }

    [Fact]
    public void Decode_rejects_ids_outside_the_vocabulary()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GoldenTokens.Tokenizer.Decode([128256]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GoldenTokens.Tokenizer.Decode([-1]));
    }
}
