using PagedSim.Model.ShareGpt;
using PagedSim.Model.Tokenization;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Tokenizer;

/// <summary>Bad tokenizer and ShareGPT files: one message naming the file and the problem, exit code 2, nothing written.</summary>
public sealed class BadInputTests
{
    [Theory]
    [InlineData("missing", "file not found")]
    [InlineData("empty", "no tokens (empty file)")]
    [InlineData("garbage", "line 1 is not \"<base64 token> <rank>\"")]
    [InlineData("bad-base64", "line 2 is not \"<base64 token> <rank>\"")]
    [InlineData("out-of-order", "line 2: rank 5 out of order (expected 1)")]
    [InlineData("binary", "not a tiktoken rank file (not UTF-8 text)")]
    public void Bad_tokenizer_file_names_file_and_problem(string kind, string problem)
    {
        using var temp = new TempFiles();
        string path = temp.PathOf("tokenizer.model");
        switch (kind)
        {
            case "empty": File.WriteAllText(path, ""); break;
            case "garbage": File.WriteAllText(path, "this is not a tokenizer\n"); break;
            case "bad-base64": File.WriteAllText(path, "IQ== 0\n!!!! 1\n"); break;
            case "out-of-order": File.WriteAllText(path, "IQ== 0\nIg== 5\n"); break;
            case "binary": File.WriteAllBytes(path, [0x80, 0xff, 0xfe, 0x00]); break;
        }

        var e = Assert.Throws<TokenizerLoadException>(() => Llama3Tokenizer.Load(path));

        Assert.Equal($"{path}: {problem}", e.Message);
    }

    [Theory]
    [InlineData("[", "malformed JSON")]
    [InlineData("[]", "the conversation list is empty")]
    [InlineData("{}", "expected a JSON array of conversations, found an object")]
    [InlineData("[{\"id\":\"x\"}]", "conversation #0 (\"x\") has no \"conversations\" array")]
    [InlineData("[{\"id\":\"x\",\"conversations\":[{\"from\":\"human\"}]}]", "conversation #0 (\"x\"), message 0 has no string \"value\"")]
    [InlineData("[{\"id\":\"x\",\"conversations\":[]}]", "none of the 1 conversations has a message")]
    public void Bad_sharegpt_file_names_file_and_problem(string json, string problem)
    {
        using var temp = new TempFiles();
        string path = temp.Write("sharegpt.json", json);

        var e = Assert.Throws<ShareGptFormatException>(() => ShareGptLoader.Load(path));

        Assert.StartsWith($"{path}: {problem}", e.Message);
    }

    [Fact]
    public void Missing_sharegpt_file() =>
        Assert.Equal("/nonexistent/s.json: file not found", Assert.Throws<ShareGptFormatException>(() => ShareGptLoader.Load("/nonexistent/s.json")).Message);

    [Theory]
    [InlineData("sharegpt")]
    [InlineData("tokenizer")]
    public void Trace_command_exits_2_and_writes_nothing(string broken)
    {
        using var temp = new TempFiles();
        string sharegpt = broken == "sharegpt" ? temp.Write("s.json", "[]") : Fixtures.Path("sharegpt-filtered.json");
        string tokenizer = broken == "tokenizer" ? temp.Write("t.model", "garbage\n") : Fixtures.Path("llama3/tokenizer.model");
        string outPath = temp.PathOf("out.json");

        var e = Assert.Throws<UserError>(() => TraceCommand.Run(sharegpt, tokenizer, outPath, TextWriter.Null));

        Assert.Equal(Cli.BadInput, e.ExitCode);
        Assert.StartsWith(broken == "sharegpt" ? sharegpt : tokenizer, e.Message);
        Assert.False(File.Exists(outPath));
        Assert.Single(Directory.GetFiles(temp.Root)); // no temporary left behind either
    }

    [Fact]
    public void Command_line_returns_exit_code_2()
    {
        var root = new System.CommandLine.RootCommand();
        root.Subcommands.Add(TraceCommand.Create());

        int rc = Cli.Invoke(root, ["trace", "--tokenizer", "/nonexistent/tokenizer.model"]);

        Assert.Equal(Cli.BadInput, rc);
    }
}
