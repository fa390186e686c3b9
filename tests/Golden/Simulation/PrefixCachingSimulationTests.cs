using System.CommandLine;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>
/// The simulator's prefix caching on the committed multi-turn trace: off, it is the run without prompt ids; on, with
/// memory to spare, every later turn finds at least its previous turn's full prompt blocks cached (nothing is
/// evicted); the hit rate falls when memory shrinks; bad option combinations are one clear line.
/// </summary>
public class PrefixCachingSimulationTests
{
    private static readonly Trace MultiTurn = TraceFile.Read(Fixtures.Path("sharegpt-multiturn.trace.json"), 8192);

    private static SimulationConfig Config(string gpu, bool caching) => new(
        new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.OfSize(PagedSim.Runner.Output.SetupOptions.ParseSize("--gpu-mem", gpu), gpu), "bf16", 1, OverheadModel.Default),
        16, SimulationMode.Continuous, PrefixCaching: caching);

    [Fact]
    public void Caching_off_is_the_run_without_prompt_ids()
    {
        RunResult off = Simulator.RunPaged(Config("22GB", false), MultiTurn.Requests, false, MultiTurn.ThinkSteps);
        RunResult lengths = Simulator.RunPaged(Config("22GB", false), MultiTurn.Requests.Select(r => r with { PromptIds = null }).ToArray(), false, MultiTurn.ThinkSteps);
        Assert.Equal(lengths with { Timeline = [] }, off with { Timeline = [] });
        Assert.Null(off.PrefixCache);
        Assert.True(off.Preemptions > 0);
    }

    [Fact]
    public void With_room_every_later_turn_hits_its_previous_prompt_and_less_memory_hits_less()
    {
        RunResult roomy = Simulator.RunPaged(Config("80GB", true), MultiTurn.Requests, false, MultiTurn.ThinkSteps);
        PrefixCacheStats stats = roomy.PrefixCache!;
        Assert.Equal(0, stats.Evictions);
        Assert.Equal(0, roomy.Preemptions);
        Assert.Equal(MultiTurn.Requests.Sum(r => (long)r.PromptTokens), stats.PromptTokens);
        // A lower bound computed from the trace alone: turn K+1 reuses at least turn K's full prompt blocks.
        var byTurn = MultiTurn.Requests.ToDictionary(r => (r.Conversation, r.Turn));
        long floor = MultiTurn.Requests.Where(r => r.Turn > 1)
            .Sum(r => (long)Math.Min(byTurn[(r.Conversation, r.Turn - 1)].PromptTokens, r.PromptTokens - 1) / 16 * 16);
        Assert.InRange(stats.CachedTokens, floor, floor + 99 * 16); // beyond it: blocks shared across conversations
        RunResult tight = Simulator.RunPaged(Config("20GB", true), MultiTurn.Requests, false, MultiTurn.ThinkSteps);
        Assert.True(tight.PrefixCache!.Evictions > 0);
        Assert.True(tight.PrefixCache.HitRate < stats.HitRate);
    }

    private static string Error(params string[] args)
    {
        RootCommand root = RunCommand.Create();
        root.Subcommands.Add(SimulateCommand.Create());
        ParseResult parse = root.Parse(args);
        Assert.Empty(parse.Errors);
        return Assert.Throws<UserError>(() => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false })).Message;
    }

    [Fact]
    public void Bad_combinations_are_one_line()
    {
        Assert.Equal("--prefix-caching: applies to --mode continuous only", Error("simulate", "--prefix-caching"));
        Assert.StartsWith("--prefix-caching: the trace sharegpt-llama3.trace.json holds no prompt_ids", Error("simulate", "--prefix-caching", "--mode", "continuous"));
    }
}
