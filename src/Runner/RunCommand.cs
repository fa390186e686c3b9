using System.CommandLine;
using PagedSim.Allocator.Simulation;
using PagedSim.Runner.Output;

namespace PagedSim.Runner;

/// <summary>
/// The root command, <c>PagedSim N</c>: the seed's paged experiment for the first N ShareGPT requests. The GPU run
/// comes later; for now it prints the simulator's prediction for this setup and says so.
/// </summary>
internal static class RunCommand
{
    public static RootCommand Create()
    {
        var count = new Argument<int>("N") { Description = "Requests to batch (the first N of the ShareGPT trace)", DefaultValueFactory = _ => 49 };
        var setup = new SetupOptions();
        var command = new RootCommand("PagedSim: PagedAttention KV-cache allocator, simulator and Llama 3 runner");
        command.Arguments.Add(count);
        setup.AddTo(command);
        command.SetAction(parse =>
        {
            int n = parse.GetValue(count);
            if (n <= 0) throw new UserError($"N: request count must be positive, got {n}");
            MemoryModel memory = setup.Resolve(parse);
            Trace trace = SimulateCommand.LoadTrace(null, memory.Model.MaxSequenceLength);
            var config = new SimulationConfig(memory);
            SimulateCommand.Validate(config);
            IReadOnlyList<TraceRequest> requests = Simulator.FirstRequests(trace, n);
            RunResult paged = SimulateCommand.Guard(() => Simulator.RunPaged(config, requests)), naive = Simulator.RunNaive(config, requests);
            MaxBatchResult pagedMax = SimulateCommand.Guard(() => MaxBatchSearch.Run(config, trace, paged: true));
            MaxBatchResult naiveMax = MaxBatchSearch.Run(config, trace, paged: false);

            Console.WriteLine($"Prediction for {n} request(s) of {trace.Source}{(n > trace.Requests.Count ? " (trace repeated)" : "")} on {memory.Gpu.Name} ({ByteSize.Gb(memory.Gpu.TotalMemoryBytes)}), {memory.Model.Name} {memory.DType}:");
            foreach ((RunResult r, MaxBatchResult max) in new[] { (paged, pagedMax), (naive, naiveMax) })
            {
                Console.WriteLine($"  {r.Cache}: {(r.Fits ? $"fits, peak memory needed {ByteSize.Gb(ReportText.PeakMemory(r, memory))} (KV {ByteSize.Gb((long)r.Peak.ReservedBytes)})" : "does not fit")}" +
                    $"; max batch {max.MaxBatch} ({ReportText.Reason(max.Reason)})");
                if (r.Failure is not null) Console.WriteLine($"    {r.Failure}");
            }
            Console.WriteLine("GPU run: not yet implemented in this version; the figures above are the simulator's (see README, `simulate --help`).");
            return 0;
        });
        return command;
    }
}
