using PagedSim.Golden.Tests.Model;
using PagedSim.Model.Generation;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Parallel;

/// <summary><c>generate --tp N --device cpu</c>: the same ids as <c>--tp 1</c>; degrees the model cannot take are refused in one line.</summary>
public class GenerateTensorParallelTests
{
    private static GenerateSettings Settings(string layout, string ids, int tp, string cache = "paged", int maxNew = 20) =>
        new(TinyLlama.Dir(layout), ids, [], maxNew, cache, 8, "cpu", null, SamplingOptions.Greedy, PrefillMode.Whole, JsonPath: null, TensorParallel: tp);

    [Theory]
    [InlineData("meta", "paged")]
    [InlineData("hf", "naive")]
    public void TwoRanksPrintTheIdsOfOne(string layout, string cache)
    {
        string prompts = string.Join(";", TinyLlama.Expected.Prompts.Select(p => string.Join(",", p)));
        var one = new StringWriter();
        var two = new StringWriter();

        Assert.Equal(0, GenerateCommand.Run(Settings(layout, prompts, 1, cache), one));
        Assert.Equal(0, GenerateCommand.Run(Settings(layout, prompts, 2, cache), two));

        string[] a = one.ToString().Split('\n'), b = two.ToString().Split('\n');
        int n = TinyLlama.Expected.Prompts.Length;
        Assert.Equal(a[..n], b[..n]); // "prompt i (… tokens) -> 20 new (length): ids"
        Assert.Contains("tensor parallel 2 (in-process)", b[n]);
    }

    [Theory]
    [InlineData(4, "tensor parallelism 4 does not divide the model's 2 KV heads")]
    [InlineData(0, "--tp: must be positive, got 0")]
    public void RefusesADegreeTheModelCannotTake(int tp, string message)
    {
        var e = Assert.Throws<UserError>(() => GenerateCommand.Run(Settings("meta", "1,2,3", tp), new StringWriter()));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
