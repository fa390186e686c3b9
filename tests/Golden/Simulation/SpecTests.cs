using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>Architecture arithmetic against Meta's published parameter counts and hand-derived KV sizes.</summary>
public class SpecTests
{
    [Theory]
    [InlineData("llama3-8b", 14336, 8_030_261_248L)]    // Meta: 8.03B
    [InlineData("llama3-70b", 28672, 70_553_706_496L)]  // Meta: 70.6B
    [InlineData("llama3.2-1b", 8192, 1_235_814_400L)]   // Meta: 1.23B (tied)
    [InlineData("llama3.2-3b", 8192, 3_212_749_824L)]   // Meta: 3.21B (tied)
    [InlineData("llama3.1-8b", 14336, 8_030_261_248L)]  // Meta: 8.03B
    [InlineData("llama3.1-70b", 28672, 70_553_706_496L)] // Meta: 70.6B
    [InlineData("llama3.3-70b", 28672, 70_553_706_496L)] // Meta: 70.6B
    public void Presets_match_published_sizes(string name, int ffnHidden, long parameters)
    {
        ModelSpec m = ModelSpec.FindPreset(name)!;
        Assert.Equal(ffnHidden, m.FfnHidden);
        Assert.Equal(parameters, m.ParameterCount);
    }

    [Fact]
    public void Llama3_8b_weights_and_kv_bytes_are_the_seeds()
    {
        var memory = new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.Rtx4090, "bf16", 1, OverheadModel.Default);
        Assert.Equal("16.06 GB", ByteSize.Gb(memory.WeightBytes));
        Assert.Equal(2L * 32 * 8 * 128 * 2, memory.Layout.BytesPerToken);
        Assert.Equal(1L * 32 * 8 * 128 * 2 * 2 * 8192 * 32 / 32, 8192 * memory.Layout.BytesPerToken / 1);
    }

    [Theory]
    [InlineData(1, 131_072)]
    [InlineData(2, 65_536)]
    [InlineData(4, 32_768)]
    [InlineData(8, 16_384)]   // one KV head per GPU
    [InlineData(16, 16_384)]  // KV heads replicated past their count
    public void Tensor_parallel_splits_kv_heads(int tp, long bytesPerToken) =>
        Assert.Equal(bytesPerToken, ModelSpec.Llama3_8B.KvLayout(2, tp).BytesPerToken);

    [Fact]
    public void Tensor_parallel_splits_weights_but_not_norms()
    {
        ModelSpec m = ModelSpec.Llama3_8B;
        long norms = 32 * 2 * 4096 + 4096;
        Assert.Equal((m.ParameterCount - norms) / 2 + norms, m.ParametersPerShard(2));
        Assert.Equal((m.ParameterCount - norms) / 8 + norms, m.ParametersPerShard(8));
        Assert.Throws<ArgumentException>(() => m.ParametersPerShard(3));
    }

    [Fact]
    public void Tensor_parallel_raises_the_max_batch()
    {
        var one = new SimulationConfig(new MemoryModel(ModelSpec.Llama3_70B, GpuSpec.FindPreset("h100-80gb")!, "bf16", 1, OverheadModel.Default));
        Assert.Equal(0, MaxBatchSearch.Run(one, TestTraces.ShareGpt, paged: true).MaxBatch); // 141 GB of weights
        var four = one with { Memory = one.Memory with { TensorParallel = 4 } };
        Assert.True(MaxBatchSearch.Run(four, TestTraces.ShareGpt, paged: true).MaxBatch > 100);
    }

    [Fact]
    public void Meta_params_json_parses_and_ties_only_known_tied_shapes()
    {
        const string eight = """{"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0}""";
        ModelSpec m = ModelSpec.FromMetaParams(eight, "x");
        Assert.Equal(ModelSpec.Llama3_8B.ParameterCount, m.ParameterCount);
        Assert.False(m.TiedEmbeddings);
        const string one = """{"dim": 2048, "ffn_dim_multiplier": 1.5, "multiple_of": 256, "n_heads": 32, "n_kv_heads": 8, "n_layers": 16, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true, "vocab_size": 128256}""";
        Assert.True(ModelSpec.FromMetaParams(one, "x").TiedEmbeddings);
        Assert.Equal(1_235_814_400L, ModelSpec.FromMetaParams(one, "x").ParameterCount);
        Assert.Contains("n_layers", Assert.Throws<FormatException>(() => ModelSpec.FromMetaParams("""{"dim": 4096}""", "x")).Message);
        Assert.Contains("positive", Assert.Throws<FormatException>(() => ModelSpec.FromMetaParams(eight.Replace("\"n_layers\": 32", "\"n_layers\": -1"), "x")).Message);
        Assert.Throws<FormatException>(() => ModelSpec.FromMetaParams("{not json", "x"));
    }

    [Theory]
    [InlineData("24GiB", 25_769_803_776L)]
    [InlineData("80GB", 80_000_000_000L)]
    [InlineData("81559MiB", 85_520_809_984L)]
    [InlineData("25393692672", 25_393_692_672L)]
    [InlineData("1.5 TB", 1_500_000_000_000L)]
    [InlineData("512kib", 524_288L)]
    public void Sizes_parse(string text, long bytes) => Assert.Equal(bytes, ByteSize.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("GB")]
    [InlineData("24XB")]
    [InlineData("-1GB")]
    [InlineData("0")]
    [InlineData("lots")]
    [InlineData("1e9")]
    public void Nonsense_sizes_fail_clearly(string text) =>
        Assert.Contains(text.Length == 0 ? "\"\"" : text, Assert.Throws<FormatException>(() => ByteSize.Parse(text)).Message);
}
