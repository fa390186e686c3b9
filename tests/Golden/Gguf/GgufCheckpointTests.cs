using PagedSim.Golden.Tests.Model;
using PagedSim.Model;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Generation;
using PagedSim.Model.KvCache;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Gguf;

/// <summary>
/// The GGUF loader on the tiny model converted in test code: the same greedy ids and logits as Hugging Face's
/// reference from GGUFs made from Meta's and from Hugging Face's layout (so the q/k row order is right: a GGUF whose
/// q/k rows keep HF's order gives other ids), every supported type, tied output, metadata and alignment.
/// </summary>
public sealed class GgufCheckpointTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Save(GgufWriter w, string name = "tiny.gguf")
    {
        string path = Path.Combine(_dir, name);
        w.Save(path);
        return path;
    }

    private static (int[][] Ids, double WorstLogit) Run(string path) => Run(path, out _);

    /// <summary>Greedy ids and the worst logit difference to HF over all steps; <paramref name="firstStep"/>: over the
    /// prompts' next-token logits only (before any lossy type can change which ids follow).</summary>
    private static (int[][] Ids, double WorstLogit) Run(string path, out double firstStep)
    {
        using Llama3 model = Llama3.Load(path, CPU, ScalarType.Float32, maxPositions: 512);
        TinyLlamaReference r = TinyLlama.Expected;
        using IKvCache cache = TinyLlama.PagedCache(model, 16);
        var requests = r.Prompts.Select((p, i) => new GenerationRequest(p, r.Generated[i].Length)).ToArray();
        IReadOnlyList<GenerationResult> results = TinyLlama.Generate(model, cache, requests);
        double worst = results.Select((x, i) => HuggingFaceReferenceTests.MaxAbsDiff(r.Logits[i], x.Logits!)).Max();
        firstStep = results.Select((x, i) => HuggingFaceReferenceTests.MaxAbsDiff(r.Logits[i].Take(1).ToList(), x.Logits!.Take(1).ToList())).Max();
        return (results.Select(x => x.Tokens.ToArray()).ToArray(), worst);
    }

    [Fact]
    public void GgufFromMetasLayoutMatchesHuggingFace()
    {
        Dictionary<string, Tensor> meta = TinyGguf.MetaTensors();
        (int[][] ids, double worst) = Run(Save(TinyGguf.Writer(meta)));
        output.WriteLine($"max |logit - HF| = {worst:E2}");
        Assert.Equal(TinyLlama.Expected.Generated, ids);
        Assert.True(worst < 1e-4, $"max |logit - HF| = {worst:E3}");
    }

    [Fact]
    public void GgufFromHuggingFacesLayoutThroughLlamaCppsPermuteMatchesHuggingFace()
    {
        Llama3Config c = TinyGguf.Config;
        Dictionary<string, Tensor> hf = TinyGguf.HfTensorsAsStored();
        for (int i = 0; i < c.Layers; i++)
        {
            hf[$"layers.{i}.attention.wq.weight"] = TinyGguf.LlamaCppPermute(hf[$"layers.{i}.attention.wq.weight"], c.Heads);
            hf[$"layers.{i}.attention.wk.weight"] = TinyGguf.LlamaCppPermute(hf[$"layers.{i}.attention.wk.weight"], c.KvHeads);
        }
        (int[][] ids, double worst) = Run(Save(TinyGguf.Writer(hf)));
        Assert.Equal(TinyLlama.Expected.Generated, ids);
        Assert.True(worst < 1e-4, $"max |logit - HF| = {worst:E3}");
    }

    [Fact]
    public void QkRowsInHuggingFacesOrderGiveOtherIds()
    {
        // The control for the two tests above: the q/k order is observable, so a loader that permuted GGUF's rows
        // (or a converter that did not) would fail them.
        (int[][] ids, double worst) = Run(Save(TinyGguf.Writer(TinyGguf.HfTensorsAsStored())));
        Assert.NotEqual(TinyLlama.Expected.Generated, ids);
        Assert.True(worst > 1e-2, $"max |logit - HF| = {worst:E3}");
    }

    [Theory]
    [InlineData("F16", 1e-4)] // the fixture's bf16 values are exact in f16 and bf16
    [InlineData("BF16", 1e-4)]
    [InlineData("Q8_0", 1e-4)] // against the model of the quantised values themselves
    public void TypesLoadAsTheirValues(string type, double tolerance)
    {
        Dictionary<string, Tensor> meta = TinyGguf.MetaTensors();
        string path = Save(TinyGguf.Writer(meta, type));
        GgufFile file = GgufFile.Open(path);
        Tensor wq = GgufTensorReader.Read(file, file.Tensors["blk.0.attn_q.weight"]);
        Tensor expected = meta["layers.0.attention.wq.weight"].to(ScalarType.Float32); // the fixture is bf16
        Tensor want = type switch
        {
            "F16" => expected.to(ScalarType.Float16),
            "BF16" => expected.to(ScalarType.BFloat16),
            _ => expected, // Q8_0: dequantised to float32, within half a quantisation step of the original
        };
        Assert.Equal(want.dtype, wq.dtype);
        if (type == "Q8_0")
        {
            float step = expected.abs().max().item<float>() / 127f;
            Assert.True((wq - expected).abs().max().item<float>() <= step / 2 * 1.01f);
            Assert.False(wq.allclose(expected, 0, 0)); // really quantised
        }
        else
        {
            Assert.True(wq.allclose(want, 0, 0));
        }
        (int[][] ids, double worst) = Run(path, out double first);
        output.WriteLine($"{type}: max |logit - HF| = {worst:E2}, first step {first:E2}; greedy ids equal: {ids.SequenceEqual(TinyLlama.Expected.Generated, new IdsComparer())}");
        if (type != "Q8_0")
        {
            Assert.Equal(TinyLlama.Expected.Generated, ids);
            Assert.True(worst < tolerance, $"{type}: max |logit - HF| = {worst:E3}");
            return;
        }
        // Q8_0 changes the weights (this random model's next-token logits move by up to ~0.8); the loaded model must be the
        // model of the quantised values, computed here from the writer's blocks: F32 weights of those values.
        var dequantised = meta.ToDictionary(e => e.Key, e => e.Value.dim() == 1 ? e.Value
            : TorchSharp.torch.tensor(GgufWriter.Q8Values(e.Value.to(ScalarType.Float32).contiguous().data<float>().ToArray())).reshape(e.Value.shape));
        using Llama3 reference = Llama3.Load(Save(TinyGguf.Writer(dequantised), "dequantised.gguf"), CPU, ScalarType.Float32);
        using Llama3 quantised = Llama3.Load(path, CPU, ScalarType.Float32);
        for (int l = 0; l < reference.Config.Layers; l++)
            Assert.True(reference.Weights.Layers[l].Wqkv.allclose(quantised.Weights.Layers[l].Wqkv, 0, 0));
        Assert.True(reference.Weights.Output.allclose(quantised.Weights.Output, 0, 0));
        Assert.True(reference.Weights.Embedding.allclose(quantised.Weights.Embedding, 0, 0));
    }

    [Fact]
    public void MissingOutputWeightTiesTheHeadToTheEmbedding()
    {
        Dictionary<string, Tensor> meta = TinyGguf.MetaTensors();
        string path = Save(TinyGguf.Writer(meta, tied: true));
        Llama3Config config = Checkpoint.ReadConfig(path);
        Assert.True(config.TiedEmbeddings);
        using Llama3 model = Llama3.Load(path, CPU, ScalarType.Float32);
        Assert.True(model.Weights.Output.allclose(meta["tok_embeddings.weight"].to(ScalarType.Float32), 0, 0));
    }

    [Fact]
    public void HyperparametersComeFromTheLlamaMetadata()
    {
        string path = Save(TinyGguf.Writer(TinyGguf.MetaTensors()).Alignment(64));
        GgufFile file = GgufFile.Open(path);
        Llama3Config c = GgufCheckpoint.ReadConfig(file), m = TinyGguf.Config;
        Assert.Equal((m.Dim, m.Layers, m.Heads, m.KvHeads, m.VocabSize, m.HiddenDim, m.RopeTheta, false),
            (c.Dim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.HiddenDim, c.RopeTheta, c.TiedEmbeddings));
        Assert.Equal((float)m.NormEps, (float)c.NormEps);
        Assert.Equal(512, GgufCheckpoint.ContextLength(file));
        Assert.Equal(3u, file.Version);
        Assert.Equal(0, file.DataStart % 64);
        Assert.All(file.Tensors.Values, t => Assert.Equal(0, (t.Start - file.DataStart) % 64));
        Assert.Equal([m.Dim, (long)m.VocabSize], file.Tensors["token_embd.weight"].Dims); // ggml order: innermost first
    }

    [Fact]
    public void StoriesMetadataIsReadAsPublished()
    {
        GgufFile f = GgufFile.Open(Stories260K.Path);
        Llama3Config c = GgufCheckpoint.ReadConfig(f);
        // fixtures/stories260k/README.md and llama2.c's doc/stories260K.md: 5 layers, dim 64, 8 heads, 4 KV heads, vocab 512.
        Assert.Equal((64, 5, 8, 4, 512, 172), (c.Dim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.HiddenDim));
        // llama2.c ties the output to the embedding; this GGUF stores the tied matrix twice.
        Assert.False(c.TiedEmbeddings);
        using Tensor embedding = GgufTensorReader.Read(f, f.Tensors["token_embd.weight"]), head = GgufTensorReader.Read(f, f.Tensors["output.weight"]);
        Assert.True(embedding.allclose(head, 0, 0));
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(2048, GgufCheckpoint.ContextLength(f));
        Assert.All(f.Tensors.Values, t => Assert.Equal(GgufTensorType.F32, t.Type));
    }

    private sealed class IdsComparer : IEqualityComparer<int[]>
    {
        public bool Equals(int[]? x, int[]? y) => x!.SequenceEqual(y!);

        public int GetHashCode(int[] obj) => obj.Length;
    }
}
