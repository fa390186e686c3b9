using System.Text;
using System.Text.Json.Nodes;
using PagedSim.Allocator.ModelConfig;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.ModelConfig;

/// <summary>The one parser of params.json and config.json: Meta's and Hugging Face's published files, both
/// transformers spellings of RoPE scaling, the refusal of other RoPE types, the context.</summary>
public class LlamaConfigReaderTests
{
    private static LlamaArchitecture Hf(string json) => LlamaConfigReader.FromHuggingFace(Encoding.UTF8.GetBytes(json));

    private static LlamaArchitecture Meta(string json) => LlamaConfigReader.FromMetaParams(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Llama31_config_json_and_params_json_agree_and_match_the_preset()
    {
        LlamaArchitecture hf = Hf(PublishedConfigs.Llama31_8B_Hf), meta = Meta(PublishedConfigs.Llama31_8B_Meta);
        Assert.Equal(RopeScaling.Llama31, hf.RopeScaling);
        Assert.Equal(RopeScaling.Llama31, meta.RopeScaling);
        Assert.Equal(131_072, hf.MaxPositions);
        Assert.Equal(131_072, meta.MaxPositions);
        Assert.Equal((hf.Dim, hf.Layers, hf.Heads, hf.KvHeads, hf.VocabSize, hf.HiddenDim, hf.RopeTheta),
            (meta.Dim, meta.Layers, meta.Heads, meta.KvHeads, meta.VocabSize, meta.HiddenDim, meta.RopeTheta));
        ModelSpec fromHf = ModelSpec.FromArchitecture(hf, "x"), preset = ModelSpec.Llama31_8B;
        Assert.Equal(preset.ParameterCount, fromHf.ParameterCount);
        Assert.Equal(preset.MaxSequenceLength, fromHf.MaxSequenceLength);
        Assert.Equal(preset.KvLayout(2).BytesPerToken, fromHf.KvLayout(2).BytesPerToken);
        Assert.False(fromHf.TiedEmbeddings);
    }

    [Fact]
    public void Llama32_config_json_is_tied_with_factor_32()
    {
        LlamaArchitecture a = Hf(PublishedConfigs.Llama32_1B_Hf);
        Assert.True(a.TiedEmbeddings);
        Assert.Equal(new RopeScaling(32, 1, 4, 8192), a.RopeScaling);
        ModelSpec spec = ModelSpec.FromArchitecture(a, "x");
        Assert.Equal(ModelSpec.Llama32_1B.ParameterCount, spec.ParameterCount); // the embedding counted once
        Assert.Equal(131_072, spec.MaxSequenceLength);
    }

    [Fact]
    public void Llama3_params_json_has_plain_rope_and_8k_context()
    {
        LlamaArchitecture a = Meta(PublishedConfigs.Llama3_8B_Meta);
        Assert.Null(a.RopeScaling);
        Assert.Equal(8192, a.MaxPositions);
        Assert.Null(a.TiedEmbeddings); // Meta's files do not say
    }

    [Fact]
    public void Meta_params_json_may_spell_out_the_scaling_and_the_context()
    {
        JsonObject p = JsonNode.Parse(PublishedConfigs.Llama31_8B_Meta)!.AsObject();
        p["rope_scaling_factor"] = 32.0;
        p["rope_high_freq_factor"] = 2.0;
        p["rope_low_freq_factor"] = 0.5;
        p["rope_original_max_position_embeddings"] = 4096;
        p["max_seq_len"] = 16384;
        LlamaArchitecture a = Meta(p.ToJsonString());
        Assert.Equal(new RopeScaling(32, 0.5, 2, 4096), a.RopeScaling);
        Assert.Equal(16384, a.MaxPositions);
    }

    [Fact]
    public void Both_transformers_spellings_and_both_type_keys_read_alike()
    {
        LlamaArchitecture v4 = Hf(PublishedConfigs.Llama31_8B_Hf);
        JsonObject legacyType = JsonNode.Parse(PublishedConfigs.Llama31_8B_Hf)!.AsObject();
        JsonObject rope = legacyType["rope_scaling"]!.AsObject();
        rope.Remove("rope_type");
        rope["type"] = "llama3";
        Assert.Equal(v4, Hf(legacyType.ToJsonString()));

        // transformers 5: rope_parameters carries the type, the factors and rope_theta; no top-level rope_theta.
        JsonObject v5 = JsonNode.Parse(PublishedConfigs.Llama31_8B_Hf)!.AsObject();
        JsonObject parameters = v5["rope_scaling"]!.DeepClone().AsObject();
        parameters["rope_theta"] = 500000.0;
        v5.Remove("rope_scaling");
        v5.Remove("rope_theta");
        v5["rope_parameters"] = parameters;
        Assert.Equal(v4, Hf(v5.ToJsonString()));

        // The default type is plain RoPE with the given theta.
        v5["rope_parameters"] = new JsonObject { ["rope_type"] = "default", ["rope_theta"] = 10000.0 };
        LlamaArchitecture plain = Hf(v5.ToJsonString());
        Assert.Null(plain.RopeScaling);
        Assert.Equal(10000.0, plain.RopeTheta);
    }

    [Theory]
    [InlineData("rope_scaling", "yarn")]
    [InlineData("rope_scaling", "linear")]
    [InlineData("rope_parameters", "dynamic")]
    [InlineData("rope_parameters", "longrope")]
    public void Other_rope_types_are_refused_in_one_line(string key, string type)
    {
        JsonObject c = JsonNode.Parse(PublishedConfigs.Llama31_8B_Hf)!.AsObject();
        c.Remove("rope_scaling");
        c[key] = new JsonObject { ["rope_type"] = type, ["factor"] = 4.0, ["original_max_position_embeddings"] = 8192 };
        string message = Assert.Throws<FormatException>(() => Hf(c.ToJsonString())).Message;
        Assert.Equal($"'{key}' has rope_type '{type}', which is not supported (only 'default' and 'llama3')", message);
    }

    [Theory]
    [InlineData("factor", "missing 'rope_scaling.factor'")]
    [InlineData("original_max_position_embeddings", "missing 'rope_scaling.original_max_position_embeddings'")]
    public void Incomplete_llama3_scaling_names_the_key(string remove, string expected)
    {
        JsonObject c = JsonNode.Parse(PublishedConfigs.Llama31_8B_Hf)!.AsObject();
        c["rope_scaling"]!.AsObject().Remove(remove);
        Assert.Equal(expected, Assert.Throws<FormatException>(() => Hf(c.ToJsonString())).Message);
    }

    [Fact]
    public void Scaling_keeps_high_frequencies_divides_low_ones_and_is_continuous()
    {
        RopeScaling s = RopeScaling.Llama31;
        double highWavelength = 8192 / 4.0, lowWavelength = 8192 / 1.0;
        double high = 2 * Math.PI / (highWavelength * 0.99), low = 2 * Math.PI / (lowWavelength * 1.01);
        Assert.Equal(high, s.Scale(high));
        Assert.Equal(low / 8, s.Scale(low));
        // At the band edges the interpolation meets the two sides.
        double atHigh = 2 * Math.PI / highWavelength, atLow = 2 * Math.PI / lowWavelength;
        Assert.Equal(atHigh, s.Scale(atHigh), 12);
        Assert.Equal(atLow / 8, s.Scale(atLow), 12);
        double mid = 2 * Math.PI / 4096;
        Assert.InRange(s.Scale(mid), mid / 8, mid);
    }

    [Fact]
    public void Files_are_found_in_folders_and_in_original()
    {
        string dir = Directory.CreateTempSubdirectory("pagedsim-config-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "original"));
            File.WriteAllText(Path.Combine(dir, "original", "params.json"), PublishedConfigs.Llama31_8B_Meta);
            Assert.Equal(Path.Combine(dir, "original", "params.json"), LlamaConfigReader.Find(dir));
            File.WriteAllText(Path.Combine(dir, "config.json"), PublishedConfigs.Llama32_1B_Hf);
            Assert.Equal(Path.Combine(dir, "config.json"), LlamaConfigReader.Find(dir));
            Assert.True(LlamaConfigReader.ReadFile(dir).TiedEmbeddings);
            File.WriteAllText(Path.Combine(dir, "config.json"), "{\"hidden_size\": 64,");
            string message = Assert.Throws<FormatException>(() => LlamaConfigReader.ReadFile(dir)).Message;
            Assert.StartsWith($"{Path.Combine(dir, "config.json")}: not valid JSON", message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
