using System.CommandLine;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>Llama 3.1 / 3.2 / 3.3 at their 131,072-token context, and <c>--max-seq-len</c> capping it.</summary>
public class LongContextTests
{
    [Theory]
    [InlineData("llama3-8b", 8192)]
    [InlineData("llama3-70b", 8192)]
    [InlineData("llama3.1-8b", 131_072)]
    [InlineData("llama3.1-70b", 131_072)]
    [InlineData("llama3.1-405b", 131_072)]
    [InlineData("llama3.2-1b", 131_072)]
    [InlineData("llama3.2-3b", 131_072)]
    [InlineData("llama3.3-70b", 131_072)]
    public void Presets_carry_their_context(string name, int context) =>
        Assert.Equal(context, ModelSpec.FindPreset(name)!.MaxSequenceLength);

    [Fact]
    public void Llama31_405b_matches_meta()
    {
        ModelSpec m = ModelSpec.Llama31_405B;
        Assert.Equal(53248, m.FfnHidden); // transformers' intermediate_size
        Assert.Equal(406, Math.Round(m.ParameterCount / 1e9)); // Meta: 406B (405.85B)
    }

    [Fact]
    public void Naive_reserves_16_GiB_per_8b_request_at_128k()
    {
        var memory = new MemoryModel(ModelSpec.Llama31_8B, GpuSpec.FindPreset("h200")!, "bf16", 1, OverheadModel.Default);
        Assert.Equal(16L << 30, memory.Model.MaxSequenceLength * memory.Layout.BytesPerToken);
        Assert.Equal(16L * memory.Layout.BytesPerToken * 8192, memory.Model.MaxSequenceLength * memory.Layout.BytesPerToken);
    }

    [Fact]
    public void Capping_the_context_raises_the_naive_batch_and_not_the_paged_one_much()
    {
        var full = new SimulationConfig(new MemoryModel(ModelSpec.Llama31_8B, GpuSpec.FindPreset("h200")!, "bf16", 1, OverheadModel.Default));
        var capped = full with { Memory = SimulateCommand.CapContext(full.Memory, 8192) };
        Assert.Equal(8192, capped.MaxSequenceLength);
        int naiveFull = MaxBatchSearch.Run(full, TestTraces.ShareGpt, paged: false).MaxBatch;
        int naiveCapped = MaxBatchSearch.Run(capped, TestTraces.ShareGpt, paged: false).MaxBatch;
        // Each request reserves its whole context: 16 times the context, about a sixteenth of the requests.
        Assert.InRange(naiveFull, 1, naiveCapped / 15);
        long slots = full.Memory.NaiveSlots(TestTraces.ShareGpt.Requests.Take(naiveFull).Sum(r => r.PromptTokens), naiveFull);
        Assert.True(slots >= naiveFull * 131_072L);
        int paged = MaxBatchSearch.Run(full, TestTraces.ShareGpt, paged: true).MaxBatch;
        Assert.True(paged > 100 * naiveFull, $"paged {paged}, naive {naiveFull}");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("131073")]
    [InlineData("-5")]
    public void Max_seq_len_outside_the_context_is_refused(string value)
    {
        RootCommand root = RunCommand.Create();
        root.Subcommands.Add(SimulateCommand.Create());
        ParseResult parse = root.Parse(["simulate", "--model", "llama3.1-8b", "--max-seq-len", value]);
        Assert.Empty(parse.Errors);
        string message = Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false })).Message;
        Assert.Equal($"--max-seq-len: must be 1 to 131,072 (the context of llama3.1-8b), got {value}", message);
    }

    [Fact]
    public void Model_takes_a_hugging_face_config_or_its_folder()
    {
        string dir = Directory.CreateTempSubdirectory("pagedsim-hf-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), ModelConfig.PublishedConfigs.Llama32_1B_Hf);
            foreach (string given in new[] { dir, Path.Combine(dir, "config.json") })
            {
                var setup = new PagedSim.Runner.Output.SetupOptions();
                var command = new Command("x");
                setup.AddTo(command);
                ModelSpec m = setup.Resolve(command.Parse(["--model", given])).Model;
                Assert.Equal(Path.GetFileName(dir), m.Name);
                Assert.Equal(ModelSpec.Llama32_1B with { Name = m.Name, HiddenDim = 8192, FfnDimMultiplier = null }, m);
            }

            File.WriteAllText(Path.Combine(dir, "config.json"), ModelConfig.PublishedConfigs.Llama32_1B_Hf.Replace("llama3", "yarn"));
            RootCommand root = RunCommand.Create();
            root.Subcommands.Add(SimulateCommand.Create());
            ParseResult parse = root.Parse(["simulate", "--model", dir]);
            string message = Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false })).Message;
            Assert.Equal($"{Path.Combine(dir, "config.json")}: 'rope_scaling' has rope_type 'yarn', which is not supported (only 'default' and 'llama3')", message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
