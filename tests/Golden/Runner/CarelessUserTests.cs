using PagedSim.Golden.Tests.Model;

namespace PagedSim.Golden.Tests.Runner;

/// <summary>
/// The program as a careless user meets it: each bad input gets exit code 2 and exactly one line on stderr that names
/// the argument or file and what is wrong, before any work, and leaves no file behind.
/// </summary>
public sealed class CarelessUserTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-careless-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Repo(string relative) => Path.GetFullPath(Path.Combine(TinyLlama.Root, "..", "..", relative));

    private string OneLine(params string[] args)
    {
        RunnerProcess.Result r = RunnerProcess.Run(_dir, args);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}, stderr: {r.Stderr}");
        string[] lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{r.Stderr}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("PagedSim.", lines[0]);      // no .NET type names
        Assert.DoesNotContain("(Parameter", lines[0]);     // no ArgumentException tails
        Assert.DoesNotContain("System.", lines[0]);
        Assert.Empty(Directory.GetFileSystemEntries(_dir)); // nothing half-written
        return lines[0];
    }

    public static TheoryData<string, string[]> Cases => new()
    {
        // Killed by the OS before: now refused before the weights are allocated (70B in float32 needs ~280 GB).
        { "needs about", ["3", "--synthetic", "--model", "llama3-70b", "--device", "cpu"] },
        { "needs about", ["bench-step", "--device", "cpu", "--model", "llama3-70b"] },
        // Raw libtorch errors before.
        { "vocabulary of 256 ids", ["2", "--model", "@tiny-meta", "--device", "cpu"] },
        { "--block-size: 1,000,000,000 exceeds the model's context", ["generate", "--model", "@tiny-meta", "--prompt-ids", "1,2", "--block-size", "1000000000"] },
        { "--max-new-tokens: 100,000,000 new tokens", ["generate", "--model", "@tiny-meta", "--prompt-ids", "1,2", "--max-new-tokens", "100000000"] },
        // Output paths checked before the work, named as the user gave them.
        { "--json: /proc/x.json: cannot create a file in /proc", ["serve-trace", "--synthetic", "--model", "tiny", "--json", "/proc/x.json"] },
        { "--json: /proc/x.json: cannot create a file in /proc", ["bench-step", "--device", "cpu", "--json", "/proc/x.json"] },
        { "--json: /proc/x.json: cannot create a file in /proc", ["7", "--synthetic", "--model", "tiny", "--device", "cpu", "--json", "/proc/x.json"] },
        { "--plot: x.txt: the file name must end in .png", ["simulate", "--plot", "x.txt"] },
        { "--out: / is a directory", ["trace", "--out", "/"] },
        // Parsing.
        { "unknown command 'simulat'; did you mean 'simulate'?", ["simulat"] },
        { "'simulate' takes no request count N ('5'); use --requests 5", ["simulate", "5"] },
        { "N is the main job's request count; 'trace' takes no N", ["5", "trace"] },
        { "--steps: 'x' is not a whole number", ["bench-step", "--steps", "x"] },
        { "--device: 'tpu' is not one of auto, cuda, cpu", ["7", "--device", "tpu"] },
        { "--prefill: 'chunked' is not one of by-length, ragged", ["7", "--prefill", "chunked"] },
        { "--prefill: applies to --mode static only", ["simulate", "--mode", "continuous", "--prefill", "ragged"] },
        { "unknown option '--steps' for 'simulate'", ["simulate", "--steps", "3"] },
        { "N: '2.5' is not a whole number of requests", ["2.5"] },
        // Messages that leaked internals or misled.
        { "is a JSON array, not a pagedsim-trace/1 trace (a ShareGPT conversation file?", ["simulate", "--trace", "@sharegpt"] },
        { "is empty", ["simulate", "--trace", "@empty"] },
        { "--trace: /tmp is a directory, not a file", ["simulate", "--trace", "/tmp"] },
        { "--temperature: must be 0 (greedy) or positive, got -1", ["generate", "--model", "@tiny-meta", "--prompt-ids", "1", "--temperature", "-1"] },
        { "no prompt: give --prompt TEXT or --prompt-ids", ["generate", "--model", "@tiny-meta"] },
        { "--prompt and --prompt-ids: give one or the other", ["generate", "--model", "@tiny-meta", "--prompt", "hi", "--prompt-ids", "1"] },
        { "--top-p: must be in (0, 1], got 0", ["serve-trace", "--synthetic", "--model", "tiny", "--top-p", "0"] },
        { "no model: give --model DIR", ["serve-trace"] },
        { "--model: with --synthetic, give a shape", ["7", "--synthetic", "--model", "llama4"] },
        { "--json -: the JSON would mix with the responses", ["7", "--synthetic", "--model", "tiny", "--device", "cpu", "--json", "-"] },
        { ": the file is empty", ["simulate", "--model", "@empty"] },
        { "--tp: 3 does not divide the 32 attention heads of llama3-8b", ["simulate", "--tp", "3"] },
        { "--max-seq-len: must be 1 to 8,192", ["simulate", "--max-seq-len", "0"] },
        { "--sweep: \"bogus\" is not a sweep", ["simulate", "--sweep", "bogus"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_input_is_one_line_and_exit_2(string expected, string[] args)
    {
        string empty = Path.Combine(Path.GetTempPath(), $"pagedsim-empty-{Environment.ProcessId}.json");
        File.WriteAllText(empty, "");
        try
        {
            string[] resolved = [.. args.Select(a => a switch
            {
                "@tiny-meta" => TinyLlama.Dir("meta"),
                "@sharegpt" => Repo("fixtures/sharegpt-filtered.json"),
                "@empty" => empty,
                _ => a,
            })];
            Assert.Contains(expected, OneLine(resolved));
        }
        finally
        {
            File.Delete(empty);
        }
    }

    [Fact]
    public void Simulate_repeats_the_trace_past_its_end_as_the_main_job_does()
    {
        RunnerProcess.Result r = RunnerProcess.Run(_dir, "simulate", "--requests", "500", "--gpu", "h200");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Static batch of 500 request(s)", r.Stdout);
    }

    [Fact]
    public void Json_to_stdout_is_the_whole_of_stdout()
    {
        RunnerProcess.Result r = RunnerProcess.Run(_dir, "simulate", "--requests", "7", "--json", "-");
        Assert.Equal(0, r.ExitCode);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        Assert.Equal(7, doc.RootElement.GetProperty("paged").GetProperty("requests").GetInt32());
    }

    [Fact]
    public void Named_commands_show_only_their_own_usage()
    {
        RunnerProcess.Result r = RunnerProcess.Run(_dir, "simulate", "--help");
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("<N>", r.Stdout);
        Assert.Contains("simulate [options]", r.Stdout);
    }
}
