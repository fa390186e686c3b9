using System.Text.Json;
using PagedSim.Model.Generation;
using PagedSim.Runner;

using PagedSim.Tests.Shared;

namespace PagedSim.Golden.Tests.Model;

/// <summary>The <c>generate</c> command on the tiny model: Hugging Face's greedy ids, text and JSON output, clear errors.</summary>
public sealed class GenerateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-generate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static GenerateSettings Settings(string layout, string ids, int maxNew = 28, string cache = "paged", int blockSize = 16,
        string? json = null, string? stopIds = null, string[]? prompts = null) =>
        new(TinyLlama.Dir(layout), prompts is null ? ids : null, prompts ?? [], maxNew, cache, blockSize, "cpu", stopIds,
            SamplingOptions.Greedy, PrefillMode.Whole, json);

    private static string Ids(int[] ids) => string.Join(",", ids);

    [Theory]
    [InlineData("meta", "paged", 3)]
    [InlineData("hf", "naive", 16)]
    public void PrintsHuggingFacesGreedyIdsPerPrompt(string layout, string cache, int blockSize)
    {
        TinyLlamaReference r = TinyLlama.Expected;
        var console = new StringWriter();

        int rc = GenerateCommand.Run(Settings(layout, string.Join(";", r.Prompts.Select(Ids)), cache: cache, blockSize: blockSize), console);

        Assert.Equal(0, rc);
        string[] lines = console.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < r.Prompts.Length; i++)
            Assert.Equal($"prompt {i} ({r.Prompts[i].Length} tokens) -> 28 new (length): {Ids(r.Generated[i])}", lines[i]);
        Assert.StartsWith("4 prompt(s), 112 tokens in ", lines[4]);
    }

    [Fact]
    public void JsonReportsStopTokens()
    {
        TinyLlamaReference r = TinyLlama.Expected;
        var console = new StringWriter();
        int stop = r.Generated[1][5];

        GenerateCommand.Run(Settings("meta-2shard", Ids(r.Prompts[1]), maxNew: 20, json: "-", stopIds: stop.ToString()), console);

        using JsonDocument doc = JsonDocument.Parse(console.ToString());
        JsonElement result = doc.RootElement.GetProperty("results")[0];
        int firstStop = Array.IndexOf(r.Generated[1], stop);
        Assert.Equal(r.Generated[1].Take(firstStop), result.GetProperty("generated").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal("stop", result.GetProperty("finish_reason").GetString());
        Assert.Equal(stop, result.GetProperty("stop_token").GetInt32());
    }

    [Theory]
    [InlineData("1,,2", "--prompt-ids: '' in \"1,,2\" is not a token id")]
    [InlineData("1;-3", "--prompt-ids: '-3' in \"-3\" is not a token id")]
    [InlineData("5,256", "--prompt-ids: token id 256 in prompt 0 is outside the model's vocabulary of 256 ids")]
    public void BadPromptIdsAreOneClearError(string ids, string message)
    {
        var e = Assert.Throws<UserError>(() => GenerateCommand.Run(Settings("meta", ids), new StringWriter()));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void BrokenCheckpointIsAUserErrorNamingTheFile()
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), "{}");
        var settings = Settings("meta", "1") with { ModelDir = _dir };
        var e = Assert.Throws<UserError>(() => GenerateCommand.Run(settings, new StringWriter()));
        Assert.Equal($"{Path.Combine(_dir, "config.json")}: missing 'hidden_size'", e.Message);
    }

    [Fact]
    public void TextPromptsAreChatFormattedWithTheModelsTokenizer()
    {
        // The tiny model with Llama 3's real tokenizer: the chat-formatted prompt starts with <|begin_of_text|>
        // (128000), which the 256-token model cannot embed; the error proves the prompt went through ChatFormat.
        foreach (string f in Directory.GetFiles(TinyLlama.Dir("meta"))) File.Copy(f, Path.Combine(_dir, Path.GetFileName(f)));
        File.Copy(Path.Combine(TinyLlama.Root, "..", "llama3", "tokenizer.model"), Path.Combine(_dir, "tokenizer.model"));
        var settings = Settings("meta", "", prompts: ["Hello"]) with { ModelDir = _dir };
        var e = Assert.Throws<UserError>(() => GenerateCommand.Run(settings, new StringWriter()));
        Assert.Equal("--prompt: token id 128000 in prompt 0 is outside the model's vocabulary of 256 ids (the tokenizer does not belong to this model)", e.Message);
    }

    [Fact]
    public void ScaledCheckpointGeneratesTransformersIdsAndRefusesToPassItsContext()
    {
        TinyLlama31Reference r = TinyLlama31.Expected("scaled");
        GenerateSettings settings = Settings("meta", Ids(r.Prompts[2]), maxNew: r.Generated[2].Length, cache: "naive") with { ModelDir = TinyLlama31.Dir("scaled-hf") };
        var console = new StringWriter();
        GenerateCommand.Run(settings, console);
        Assert.StartsWith($"prompt 0 (3000 tokens) -> 16 new (length): {Ids(r.Generated[2])}", console.ToString());

        var e = Assert.Throws<UserError>(() => GenerateCommand.Run(settings with { MaxNewTokens = 1097 }, new StringWriter()));
        Assert.Equal("--max-new-tokens: 1,097 new tokens after a prompt of 3,000 exceed the model's context of 4,096 tokens", e.Message);
    }
}
