using System.CommandLine;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Parallel;

/// <summary>Where <c>--tp N</c> is not wired yet: the main job prints its per-GPU prediction and says so; serve-trace refuses in one line.</summary>
public class TensorParallelNotYetTests
{
    [Fact]
    public void MainJobPrintsThePredictionAndSaysTheRunIsNotTensorParallelYet()
    {
        var console = new StringWriter();
        ParseResult parse = RunCommand.Create(console, TextWriter.Null, interactive: false)
            .Parse(["2", "--synthetic", "--model", "tiny", "--device", "cpu", "--tp", "2", "--max-new-tokens", "4"]);
        Assert.Empty(parse.Errors);

        int code = parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });

        Assert.Equal(0, code);
        Assert.StartsWith("Prediction for 2 request(s)", console.ToString());
        Assert.Contains("GPU run: not run: --tp 2 is not yet wired into the main job", console.ToString());
    }

    [Fact]
    public void ServeTraceRefusesInOneLine()
    {
        ParseResult parse = ServeTraceCommand.Create().Parse(["--synthetic", "--model", "tiny", "--tp", "2"]);
        Assert.Empty(parse.Errors);

        var e = Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));

        Assert.Equal("--tp 2: tensor parallelism is not yet wired into serve-trace (generate --tp N runs it; docs/tensor-parallel.md)", e.Message);
    }
}
