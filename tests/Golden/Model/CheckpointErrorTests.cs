using System.Collections;
using System.Text.Json.Nodes;
using PagedSim.Model;
using PagedSim.Model.Checkpoints;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>Broken checkpoints fail with one message naming the file and the tensor (or field) at fault.</summary>
public sealed class CheckpointErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CheckpointException LoadFails(string? dir = null) =>
        Assert.Throws<CheckpointException>(() => Llama3.Load(dir ?? _dir, CPU).Dispose());

    /// <summary>Copies the one-shard Meta checkpoint, applying <paramref name="edit"/> to its state dict.</summary>
    private string MetaWith(Action<Hashtable> edit)
    {
        File.Copy(Path.Combine(TinyLlama.Dir("meta"), "params.json"), Path.Combine(_dir, "params.json"));
        Hashtable state = PyTorchUnpickler.UnpickleStateDict(Path.Combine(TinyLlama.Dir("meta"), "consolidated.00.pth"));
        edit(state);
        string path = Path.Combine(_dir, "consolidated.00.pth");
        PyTorchPickler.PickleStateDict(path, state);
        return path;
    }

    /// <summary>Writes the HF checkpoint as one model.safetensors (no index), applying <paramref name="edit"/>.</summary>
    private string HfSingleFileWith(Action<Dictionary<string, Tensor>> edit)
    {
        File.Copy(Path.Combine(TinyLlama.Dir("hf"), "config.json"), Path.Combine(_dir, "config.json"));
        var state = new Dictionary<string, Tensor>();
        foreach (string f in Directory.GetFiles(TinyLlama.Dir("hf"), "*.safetensors"))
            foreach (var (k, v) in Safetensors.LoadStateDict(f)) state[k] = v;
        edit(state);
        string path = Path.Combine(_dir, "model.safetensors");
        Safetensors.SaveStateDict(path, state);
        return path;
    }

    [Fact]
    public void SingleFileHuggingFaceCheckpointLoadsLikeTheShardedOne()
    {
        HfSingleFileWith(_ => { });
        using Llama3 single = Llama3.Load(_dir, CPU);
        Llama3 sharded = TinyLlama.Model("hf");
        for (int l = 0; l < single.Config.Layers; l++)
            Assert.True(single.Weights.Layers[l].Wqkv.eq(sharded.Weights.Layers[l].Wqkv).all().item<bool>());
        Assert.True(single.Weights.Output.eq(sharded.Weights.Output).all().item<bool>());
    }

    [Fact]
    public void MetaAndHuggingFaceLayoutsGiveIdenticalWeights()
    {
        // Undoing HF's q/k permutation must give back Meta's rows exactly; shards must concatenate back exactly.
        Llama3 meta = TinyLlama.Model("meta"), hf = TinyLlama.Model("hf"), two = TinyLlama.Model("meta-2shard");
        for (int l = 0; l < meta.Config.Layers; l++)
        {
            foreach (Func<LayerWeights, Tensor> pick in new Func<LayerWeights, Tensor>[] { w => w.Wqkv, w => w.Wo, w => w.W13, w => w.W2, w => w.AttentionNorm, w => w.FfnNorm })
            {
                Assert.True(pick(meta.Weights.Layers[l]).eq(pick(hf.Weights.Layers[l])).all().item<bool>());
                Assert.True(pick(meta.Weights.Layers[l]).eq(pick(two.Weights.Layers[l])).all().item<bool>());
            }
        }
        Assert.True(meta.Weights.Embedding.eq(two.Weights.Embedding).all().item<bool>());
        Assert.True(meta.Weights.Output.eq(two.Weights.Output).all().item<bool>());
    }

    [Fact]
    public void MetaMissingTensorNamesFileAndTensor()
    {
        string file = MetaWith(s => s.Remove("layers.1.feed_forward.w2.weight"));
        CheckpointException e = LoadFails();
        Assert.Contains(file, e.Message);
        Assert.Contains("missing tensor 'layers.1.feed_forward.w2.weight'", e.Message);
    }

    [Fact]
    public void MetaWrongShapeNamesFileTensorAndShapes()
    {
        string file = MetaWith(s => s["layers.0.attention.wk.weight"] = zeros([128, 512], ScalarType.BFloat16));
        CheckpointException e = LoadFails();
        Assert.Contains(file, e.Message);
        Assert.Contains("'layers.0.attention.wk.weight' has shape [128, 512]; expected [256, 512]", e.Message);
    }

    [Fact]
    public void MetaWrongDtypeNamesFileAndTensor()
    {
        string file = MetaWith(s => s["norm.weight"] = zeros([512], ScalarType.Int64));
        CheckpointException e = LoadFails();
        Assert.Contains(file, e.Message);
        Assert.Contains("'norm.weight' has dtype Int64", e.Message);
    }

    [Fact]
    public void TruncatedPthNamesTheFile()
    {
        File.Copy(Path.Combine(TinyLlama.Dir("meta"), "params.json"), Path.Combine(_dir, "params.json"));
        byte[] bytes = File.ReadAllBytes(Path.Combine(TinyLlama.Dir("meta"), "consolidated.00.pth"));
        string path = Path.Combine(_dir, "consolidated.00.pth");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        CheckpointException e = LoadFails();
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void MissingShardIsReported()
    {
        File.Copy(Path.Combine(TinyLlama.Dir("meta-2shard"), "params.json"), Path.Combine(_dir, "params.json"));
        File.Copy(Path.Combine(TinyLlama.Dir("meta-2shard"), "consolidated.01.pth"), Path.Combine(_dir, "consolidated.01.pth"));
        CheckpointException e = LoadFails();
        Assert.Contains("consolidated.00.pth: shard missing", e.Message);
    }

    [Fact]
    public void ShardOfTheWrongModelIsReportedByShape()
    {
        // Two copies of the unsharded checkpoint: each "shard" has the full shape, not half.
        File.Copy(Path.Combine(TinyLlama.Dir("meta"), "params.json"), Path.Combine(_dir, "params.json"));
        File.Copy(Path.Combine(TinyLlama.Dir("meta"), "consolidated.00.pth"), Path.Combine(_dir, "consolidated.00.pth"));
        File.Copy(Path.Combine(TinyLlama.Dir("meta"), "consolidated.00.pth"), Path.Combine(_dir, "consolidated.01.pth"));
        CheckpointException e = LoadFails();
        Assert.Contains("consolidated.00.pth: tensor 'tok_embeddings.weight' has shape [256, 512]; expected [256, 256]", e.Message);
    }

    [Fact]
    public void TruncatedSafetensorsNamesFileAndTensor()
    {
        foreach (string f in Directory.GetFiles(TinyLlama.Dir("hf"))) File.Copy(f, Path.Combine(_dir, Path.GetFileName(f)));
        string path = Path.Combine(_dir, "model-00002-of-00002.safetensors");
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 1000)]);
        CheckpointException e = LoadFails();
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated file: tensor '", e.Message);
    }

    [Fact]
    public void HuggingFaceMissingTensorIsNamed()
    {
        HfSingleFileWith(s => s.Remove("lm_head.weight"));
        CheckpointException e = LoadFails();
        Assert.Contains(_dir, e.Message);
        Assert.Contains("missing tensor 'lm_head.weight' (not in model.safetensors)", e.Message);
    }

    [Fact]
    public void HuggingFaceWrongDtypeAndShapeAreNamed()
    {
        string path = HfSingleFileWith(s => s["model.layers.1.mlp.up_proj.weight"] = zeros([320, 512], ScalarType.Int32));
        CheckpointException e = LoadFails();
        Assert.Contains($"{path}: tensor 'model.layers.1.mlp.up_proj.weight' has dtype Int32", e.Message);

        Directory.Delete(_dir, true);
        Directory.CreateDirectory(_dir);
        path = HfSingleFileWith(s => s["model.layers.0.self_attn.q_proj.weight"] = zeros([512, 256], ScalarType.BFloat16));
        e = LoadFails();
        Assert.Contains($"{path}: tensor 'model.layers.0.self_attn.q_proj.weight' has shape [512, 256]; expected [512, 512]", e.Message);
    }

    [Fact]
    public void ConfigErrorsNameFileAndField()
    {
        JsonNode p = JsonNode.Parse(File.ReadAllText(Path.Combine(TinyLlama.Dir("meta"), "params.json")))!;
        p.AsObject().Remove("n_heads");
        File.WriteAllText(Path.Combine(_dir, "params.json"), p.ToJsonString());
        CheckpointException e = LoadFails();
        Assert.Equal($"{Path.Combine(_dir, "params.json")}: missing 'n_heads'", e.Message);

        File.WriteAllText(Path.Combine(_dir, "params.json"), "{ \"dim\": 512, ");
        Assert.Contains("params.json: not valid JSON", LoadFails().Message);

        File.Delete(Path.Combine(_dir, "params.json"));
        Assert.Contains("neither params.json (Meta layout) nor config.json (Hugging Face layout) found", LoadFails().Message);
    }

    [Fact]
    public void MetaHiddenDimFollowsMetasFormula()
    {
        // Published shapes: Llama 3 8B 14336, 70B 28672 (dim 8192, 1.3, 4096), 405B 53248 (dim 16384, 1.2, 4096).
        Assert.Equal(14336, Llama3Config.MetaHiddenDim(4096, 1024, 1.3));
        Assert.Equal(28672, Llama3Config.MetaHiddenDim(8192, 4096, 1.3));
        Assert.Equal(53248, Llama3Config.MetaHiddenDim(16384, 4096, 1.2));
        Assert.Equal(11008, Llama3Config.MetaHiddenDim(4096, 256, null)); // Llama 2 7B
        Assert.Equal(320, TinyLlama.Model("meta").Config.HiddenDim);      // the fixture: 4·512 → 1365 → 273 → 320
    }
}
