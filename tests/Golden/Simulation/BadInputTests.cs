using System.CommandLine;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>Bad input to <c>simulate</c> and the root command: one clear line (a UserError), thrown before any output.</summary>
public class BadInputTests
{
    private static string Error(params string[] args)
    {
        RootCommand root = RunCommand.Create();
        root.Subcommands.Add(SimulateCommand.Create());
        ParseResult parse = root.Parse(args);
        Assert.Empty(parse.Errors);
        return Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false })).Message;
    }

    [Fact]
    public void Unknown_gpu_lists_the_known_ones() =>
        Assert.Contains("rtx4090, l4, a10g, a100-40gb, a100-80gb, h100-80gb, h200", Error("simulate", "--gpu", "tpu"));

    [Fact]
    public void Unknown_model_lists_the_known_ones() =>
        Assert.Contains("llama3-8b, llama3-70b, llama3.1-8b, llama3.1-70b, llama3.1-405b, llama3.2-1b, llama3.2-3b, llama3.3-70b", Error("simulate", "--model", "gpt5"));

    [Fact]
    public void Root_command_rejects_unknown_gpu_too() => Assert.Contains("--gpu", Error("7", "--gpu", "nope"));

    [Theory]
    [InlineData("--gpu-mem", "24XB", "not a size")]
    [InlineData("--dtype", "int3", "unknown type")]
    [InlineData("--tp", "3", "does not divide")]
    [InlineData("--mode", "burst", "unknown mode")]
    [InlineData("--block-size", "0", "--block-size")]
    [InlineData("--requests", "0", "request count must be 1 to 10,000,000")]
    public void Bad_options_name_the_option(string option, string value, string expected) =>
        Assert.Contains(expected, Error("simulate", option, value));

    [Fact]
    public void Seed_compat_in_continuous_mode_is_refused() =>
        Assert.Contains("static", Error("simulate", "--seed-compat", "--mode", "continuous"));

    [Theory]
    [InlineData(0, 10, "prompt_tokens must be positive")]
    [InlineData(10, -3, "output_tokens must be positive")]
    [InlineData(8000, 500, "exceed the max sequence length 8192")]
    public void Bad_trace_lengths_name_the_request(int prompt, int output, string expected)
    {
        string path = Path.Combine(Path.GetTempPath(), $"pagedsim-bad-{Guid.NewGuid():N}.trace.json");
        File.WriteAllText(path, $$"""
            {"format": "pagedsim-trace/1", "requests": [
              {"id": "ok_1", "prompt_tokens": 5, "output_tokens": 5},
              {"id": "bad_7", "prompt_tokens": {{prompt}}, "output_tokens": {{output}}}]}
            """);
        try
        {
            string message = Error("simulate", "--trace", path);
            Assert.Contains("request bad_7", message);
            Assert.Contains(expected, message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
