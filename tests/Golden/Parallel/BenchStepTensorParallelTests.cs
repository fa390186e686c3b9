using System.Text.Json;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Parallel;

/// <summary><c>bench-step --tp N</c> on the CPU: per-rank bytes (half the KV heads, half the weight matrices) and refusals.</summary>
public sealed class BenchStepTensorParallelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-bench-tp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TwoRanksReadPerRankBytes()
    {
        long Bytes(int tp)
        {
            string json = Path.Combine(_dir, $"tp{tp}.json");
            var console = new StringWriter();
            Assert.Equal(0, BenchStepCommand.Run("2", 16, 2, "cpu", null, "auto", "auto", 3.35, json, console, tp: tp));
            if (tp > 1) Assert.Contains($"tensor parallel {tp} (in-process)", console.ToString());
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal(tp, doc.RootElement.GetProperty("tp").GetInt32());
            return doc.RootElement.GetProperty("results")[0].GetProperty("bytes_read").GetInt64();
        }

        long one = Bytes(1), two = Bytes(2);
        // Every matrix, the output head and the KV heads split in two; only the two norms per layer and the final
        // norm (dim 64, float32) stay whole on each rank.
        const long replicatedNorms = (2 * 2 + 1) * 64 * 4;
        Assert.Equal(one - replicatedNorms, 2 * (two - replicatedNorms));
    }

    [Fact]
    public void RefusesADegreeTheShapeCannotTake()
    {
        UserError e = Assert.Throws<UserError>(() => BenchStepCommand.Run("1", 8, 1, "cpu", null, "auto", "auto", 3.35, null, TextWriter.Null, tp: 4));
        Assert.StartsWith("--tp 4: tensor parallelism 4 does not divide the model's 2 KV heads", e.Message);
    }
}
