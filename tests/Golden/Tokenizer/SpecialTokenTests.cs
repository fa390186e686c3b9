using System.Text.Json;
using PagedSim.Model.Tokenization;

namespace PagedSim.Golden.Tests.Tokenizer;

/// <summary>Special token ids: Meta's published numbering, and all 256 as tiktoken was set up from the reference.</summary>
public sealed class SpecialTokenTests
{
    [Theory]
    [InlineData("<|begin_of_text|>", 128000)]
    [InlineData("<|end_of_text|>", 128001)]
    [InlineData("<|reserved_special_token_0|>", 128002)]
    [InlineData("<|reserved_special_token_3|>", 128005)]
    [InlineData("<|start_header_id|>", 128006)]
    [InlineData("<|end_header_id|>", 128007)]
    [InlineData("<|reserved_special_token_4|>", 128008)]
    [InlineData("<|eot_id|>", 128009)]
    [InlineData("<|reserved_special_token_5|>", 128010)]
    [InlineData("<|reserved_special_token_250|>", 128255)]
    public void Named_ids_are_Metas(string name, int id) => Assert.Equal(id, GoldenTokens.Tokenizer.SpecialTokenId(name));

    [Fact]
    public void All_256_match_the_golden_table()
    {
        Llama3Tokenizer tokenizer = GoldenTokens.Tokenizer;
        JsonElement table = GoldenTokens.Root.GetProperty("special_tokens");

        Assert.Equal(256, table.EnumerateObject().Count());
        foreach (JsonProperty p in table.EnumerateObject())
        {
            Assert.Equal(p.Value.GetInt32(), tokenizer.SpecialTokenId(p.Name));
            Assert.Equal(p.Name, tokenizer.Decode([p.Value.GetInt32()]));
        }
    }

    [Fact]
    public void Properties_and_stop_tokens()
    {
        Llama3Tokenizer tokenizer = GoldenTokens.Tokenizer;

        Assert.Equal(128000, tokenizer.BeginOfText);
        Assert.Equal(128001, tokenizer.EndOfText);
        Assert.Equal(128009, tokenizer.EotId);
        Assert.Equal(128006, tokenizer.StartHeaderId);
        Assert.Equal(128007, tokenizer.EndHeaderId);
        Assert.Equal(128256, tokenizer.VocabSize);
        Assert.True(tokenizer.StopTokens.SetEquals([128001, 128009]));
    }

    [Fact]
    public void Unknown_name_throws() =>
        Assert.Throws<KeyNotFoundException>(() => GoldenTokens.Tokenizer.SpecialTokenId("<|reserved_special_token_251|>"));

    [Fact]
    public void Header_is_start_role_end_blank_line()
    {
        // "user" is 882 and "\n\n" is 271 in Meta's vocabulary (both also in golden.json's dialogs).
        Assert.Equal([128006, 882, 128007, 271], new ChatFormat(GoldenTokens.Tokenizer).EncodeHeader("user"));
    }
}
