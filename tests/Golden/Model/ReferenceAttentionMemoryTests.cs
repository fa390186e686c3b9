using System.Runtime.InteropServices;
using PagedSim.Allocator.Simulation;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using Xunit;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// <see cref="ReferenceAttentionMemory.CallBytes"/> (the runner's peak prediction for the passes the reference
/// attention takes) against the memory a call really takes, measured on the CPU: libtorch allocates there through
/// malloc, which — with its mmap threshold fixed low — maps every large tensor on its own and unmaps it when freed, so
/// the process's peak resident memory during a call (Linux's VmHWM, reset before it) less what was resident before is
/// the call's peak. Runs alone (no other test allocating meanwhile); Linux with glibc only.
/// </summary>
[Collection(RunsAloneCollection.Name)]
public sealed class ReferenceAttentionMemoryTests
{
    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD

    [Theory]
    [InlineData("llama3.2-1b", 16, 1, 1500, 256)]   // a decode step of Llama 3.2 1B (head dim 64: always the reference)
    [InlineData("llama3.2-1b", 16, 1, 1500, null)]  // the same over a naive cache's rows
    [InlineData("llama3-8b", 1, 1400, 1400, 16)]    // a prompt's pass at block 16: two query tiles
    [InlineData("llama3-8b", 4, 600, 600, 16)]      // four prompts of one length in one pass
    public void PredictedPeakMatchesTheMeasured(string preset, int batch, int queries, int keys, int? blockSize)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/clear_refs")) Assert.Skip("needs Linux's /proc/self/clear_refs");
        try
        {
            if (MallOpt(MmapThreshold, 64 * 1024) != 1) Assert.Skip("glibc refused a fixed mmap threshold");
        }
        catch (EntryPointNotFoundException)
        {
            Assert.Skip("not glibc: no mallopt");
        }
        ModelSpec m = ModelSpec.Presets.Single(p => p.Name == preset);
        using var scope = NewDisposeScope();
        var g = new Generator(1);
        int block = blockSize ?? keys, width = (keys + block - 1) / block;
        long rows = blockSize is null ? batch : (long)batch * width;
        Tensor keyCache = randn([rows, block, m.KvHeads, m.HeadDim], generator: g).to(ScalarType.BFloat16);
        Tensor valueCache = randn([rows, block, m.KvHeads, m.HeadDim], generator: g).to(ScalarType.BFloat16);
        Tensor table = blockSize is null
            ? tensor(Enumerable.Range(0, batch).ToArray(), [batch, 1], ScalarType.Int32)
            : tensor(Enumerable.Range(0, (int)rows).ToArray(), [batch, width], ScalarType.Int32);
        Tensor query = randn([batch, queries, m.Heads, m.HeadDim], generator: g).to(ScalarType.BFloat16);
        Tensor output = empty_like(query);
        var inputs = new AttentionInputs(query, keyCache, valueCache, blockSize is null ? KvCacheKind.Contiguous : KvCacheKind.Paged,
            table, tensor(Enumerable.Repeat(keys, batch).ToArray(), ScalarType.Int32), keys, Causal: queries > 1, 1 / Math.Sqrt(m.HeadDim));
        var attention = new ReferenceAttention();
        attention.Forward(inputs, output); // once first: the math libraries' own buffers
        GC.Collect();

        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM to the resident memory now
        long before = Status("VmRSS");
        attention.Forward(inputs, output);
        long measured = Status("VmHWM") - before;

        long predicted = ReferenceAttentionMemory.CallBytes(m, 2, batch, queries, keys, blockSize);
        Assert.True(Math.Abs(predicted - measured) <= 0.03 * measured + (4 << 20),
            $"{preset} {batch} × {queries} over {keys} keys: predicted {predicted / 1e6:F1} MB, measured {measured / 1e6:F1} MB");
    }

    [Fact]
    public void TheTileBudgetIsTheBackendsOwn() =>
        Assert.Equal(ReferenceAttention.DefaultScoreTileBytes, ReferenceAttentionMemory.ScoreTileBytes);

    private static long Status(string key) =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
}
