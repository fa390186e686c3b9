using PagedSim.Allocator;
using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Model.Tokenization;
using PagedSim.Runner;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests.Model;

/// <summary>
/// stories260K (real trained weights, GGUF) on CUDA. float32: exactly llama2.c's published greedy sample, through the
/// paged and the naive cache. bf16: its rounding may flip an argmax, so the criterion is
/// <see cref="GreedyAgreement"/>'s against the float32 run on the CPU (logits within its noise bound while both are fed
/// the same tokens, ids parting only where that noise can flip the argmax). Head size 8: the runs use the reference
/// attention (flash-attn is built for 128), and generate's output says so.
/// </summary>
public class Stories260KOnCudaTests(ITestOutputHelper output)
{
    private const int Steps = 256;

    private static string Dir => Path.GetFullPath(Path.Combine(TinyLlamaFixture.Root, "..", "stories260k"));

    private static string Gguf => Path.Combine(Dir, "stories260K.gguf");

    private static string Published => File.ReadAllText(Path.Combine(Dir, "greedy-sample.txt")).TrimEnd('\n');

    private static IReadOnlyList<GenerationResult> Run(Device device, ScalarType dtype, string cacheKind)
    {
        using Llama3 model = Llama3.Load(Gguf, device, dtype, maxPositions: Steps + 1);
        GgufTokenizer tok = GgufTokenizer.Load(Gguf);
        using IKvCache cache = cacheKind == "naive"
            ? new NaiveKvCache(model.Config, 1, Steps + 1, device, dtype)
            : new PagedKvCache(model.Config, new KvCacheOptions(Steps / 16 + 2, 16, Steps + 1), device, dtype);
        return new BatchGenerator(model, cache, new ReferenceAttention())
            .Generate([new GenerationRequest(tok.EncodePrompt(""), Steps, tok.StopTokens)], new GenerationOptions(RecordLogits: true));
    }

    [Theory]
    [InlineData("paged")]
    [InlineData("naive")]
    public void Float32PrintsThePublishedSample(string cacheKind)
    {
        CudaDevice.SkipUnlessAvailable();
        GenerationResult r = Run(CUDA, ScalarType.Float32, cacheKind)[0];
        Assert.Equal(Published, GgufTokenizer.Load(Gguf).Decode(r.Tokens));
    }

    [Fact]
    public void Bfloat16AgreesWithTheFloat32ReferenceWithinItsRounding()
    {
        CudaDevice.SkipUnlessAvailable();
        IReadOnlyList<GenerationResult> reference = Run(CPU, ScalarType.Float32, "paged");
        IReadOnlyList<GenerationResult> bf16 = Run(CUDA, ScalarType.BFloat16, "paged");
        int same = bf16[0].Tokens.Zip(reference[0].Tokens).TakeWhile(p => p.First == p.Second).Count();
        output.WriteLine($"bf16 on CUDA: first {same} of {reference[0].Tokens.Count} greedy ids equal float32's");
        GreedyAgreement.Assert(reference, bf16, "cpu float32", "cuda bf16", output);
    }

    [Fact]
    public void GenerateSaysItRunsTheReferenceAttention()
    {
        CudaDevice.SkipUnlessAvailable();
        var console = new StringWriter();
        GenerateCommand.Run(new GenerateSettings(Gguf, null, [""], 16, "paged", 16, "cuda", null, SamplingOptions.Greedy, PrefillMode.Whole, null), console);
        Assert.Contains("reference attention (head size 8: flash-attn is built for 128)", console.ToString());
    }
}
