using System.Text;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>What the web planner shares with the command line: config.json models, traces from a stream, searches that
/// start from a guess, the memory sweep and the report table.</summary>
public class WebSharedLogicTests
{
    // Hugging Face config.json files as published with the checkpoints (keys that matter for memory).
    private const string Llama3_8B = """
        { "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 8192,
          "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
          "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256 }
        """;

    private const string Llama32_1B = """
        { "architectures": ["LlamaForCausalLM"], "head_dim": 64, "hidden_size": 2048, "intermediate_size": 8192,
          "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rope_scaling": { "factor": 32.0, "rope_type": "llama3" },
          "tie_word_embeddings": true, "vocab_size": 128256 }
        """;

    [Theory]
    [InlineData(Llama3_8B, 14336, 8_030_261_248L)]   // Meta: 8.03B
    [InlineData(Llama32_1B, 8192, 1_235_814_400L)]   // Meta: 1.23B (tied)
    public void Hugging_face_configs_give_the_published_sizes(string json, int ffnHidden, long parameters)
    {
        ModelSpec m = ModelConfigFile.Parse(json, "hf");
        Assert.Equal(ffnHidden, m.FfnHidden);
        Assert.Equal(parameters, m.ParameterCount);
    }

    [Fact]
    public void Meta_params_go_to_the_meta_reader()
    {
        const string meta = """{"dim": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 8, "vocab_size": 128256, "multiple_of": 1024, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-05, "rope_theta": 500000.0}""";
        Assert.Equal(ModelSpec.Llama3_8B with { Name = "m" }, ModelConfigFile.Parse(meta, "m"));
    }

    [Fact]
    public void A_swiglu_narrower_than_metas_base_is_kept_exactly()
    {
        // 8·4096/3 = 10922 > 8192: no multiple_of reproduces 8192, the multiplier does.
        string json = """{ "hidden_size": 4096, "intermediate_size": 8192, "num_attention_heads": 32, "num_hidden_layers": 2, "vocab_size": 1000 }""";
        Assert.Equal(8192, ModelConfigFile.Parse(json, "x").FfnHidden);
    }

    [Theory]
    [InlineData("{ \"hidden_size\": 4096,", "malformed JSON")]
    [InlineData("[1, 2]", "expected a JSON object")]
    [InlineData("{ \"foo\": 1 }", "neither a Hugging Face config.json")]
    [InlineData("{ \"hidden_size\": 4096 }", "missing \"num_hidden_layers\"")]
    [InlineData("{ \"hidden_size\": 4096, \"num_hidden_layers\": 2, \"num_attention_heads\": 32, \"vocab_size\": 10, \"intermediate_size\": -1 }", "\"intermediate_size\" must be a positive whole number")]
    [InlineData("{ \"hidden_size\": 4096, \"num_hidden_layers\": 2, \"num_attention_heads\": 32, \"head_dim\": 256, \"vocab_size\": 10, \"intermediate_size\": 11008 }", "head_dim 256 differs")]
    public void Bad_configs_are_one_line(string json, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ModelConfigFile.Parse(json, "x"));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Traces_parse_from_a_stream_as_from_their_file()
    {
        string path = PagedSim.Runner.Fixtures.Path("sharegpt-llama3.trace.json");
        using FileStream stream = File.OpenRead(path);
        Trace parsed = TraceFile.Parse(stream, "upload.json", 8192);
        Assert.Equal(TraceFile.Read(path).Requests, parsed.Requests);
        Assert.Equal("upload.json", parsed.Source);
        var bad = Assert.Throws<TraceFormatException>(() => TraceFile.Parse(new MemoryStream(Encoding.UTF8.GetBytes("""{ "format": "other" }""")), "u.json"));
        Assert.Equal("u.json: format must be \"pagedsim-trace/1\", got \"other\"", bad.Message);
    }

    [Fact]
    public void A_search_from_any_guess_finds_what_bisection_finds()
    {
        for (int limit = 0; limit <= 40; limit++)
            for (int threshold = 0; threshold <= limit; threshold++)
                foreach (int hint in new[] { -5, 0, 1, threshold - 3, threshold, threshold + 1, threshold + 7, limit, limit + 9 })
                {
                    int calls = 0;
                    Assert.Equal(threshold, MaxBatchSearch.Find(n => { calls++; return n <= threshold; }, limit, hint));
                    if (hint == threshold && threshold > 0 && threshold < limit) Assert.Equal(2, calls);
                }
    }

    [Fact]
    public void Sweep_points_equal_fresh_searches_whatever_was_known()
    {
        var config = new SimulationConfig(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.Rtx4090, "bf16", 1, OverheadModel.Default));
        Trace trace = TestTraces.ShareGpt;
        IReadOnlyList<long> sizes = MemorySweep.Sizes(18_000_000_000, 40_000_000_000, 6);
        Assert.Equal([18_000_000_000, 22_400_000_000, 26_800_000_000, 31_200_000_000, 35_600_000_000, 40_000_000_000], sizes);
        var known = new List<MemorySweepPoint>();
        foreach (long size in sizes)
        {
            MemorySweepPoint point = MemorySweep.At(config, trace, size, known);
            SimulationConfig sized = config with { Memory = config.Memory with { Gpu = GpuSpec.OfSize(size, "x") } };
            Assert.Equal(MaxBatchSearch.Run(sized, trace, paged: true), point.Paged);
            Assert.Equal(MaxBatchSearch.Run(sized, trace, paged: false), point.Naive);
            known.Add(point);
        }
        Assert.True(known[^1].Paged.MaxBatch > known[0].Paged.MaxBatch);
        Assert.Throws<ArgumentOutOfRangeException>(() => MemorySweep.Sizes(1, 2, 1));
    }

    [Fact]
    public void The_report_table_is_the_seeds_setup_as_documented()
    {
        // docs/simulator.md, `simulate --gpu rtx4090 --seed-compat --requests 7`.
        var config = new SimulationConfig(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.Rtx4090, "bf16", 1, OverheadModel.Default), SeedCompatible: true);
        Trace trace = TestTraces.ShareGpt;
        SimulationReport report = SimulationReport.Create(config, trace, trace.Requests.Take(7).ToArray());
        Dictionary<string, ReportRow> rows = ReportTable.Rows(report).ToDictionary(r => r.Label);
        Assert.Equal(new ReportRow("seed's fragmentation", "0.06 GB (0.22%)", "7.38 GB (29.06%)"), rows["seed's fragmentation"]);
        Assert.Equal(new ReportRow("max static batch", "62 (the seed's block pool)", "7 (max-length reservations fill memory)"), rows["max static batch"]);
        Assert.Equal(new ReportRow("KV capacity", "160 blocks, 5.37 GB", "7 × 8,192 tokens, 7.52 GB"), rows["KV capacity"]);
        Assert.Equal("Static batch of 7 request(s) from sharegpt-llama3.trace.json", ReportTable.Title(report));
    }
}
