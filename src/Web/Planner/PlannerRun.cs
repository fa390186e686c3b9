using System.Diagnostics;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Web.Planner;

/// <summary>
/// Runs a plan in pieces — the paged run, the naive run, each max-batch search, each sweep point — and yields to the
/// browser between pieces once a frame's worth of work has passed, so the page keeps painting and reacting on
/// WebAssembly's single thread. A newer run cancels an older one at the next piece.
/// </summary>
public static class PlannerRun
{
    /// <summary>Work between two yields, in milliseconds (about a frame).</summary>
    public const double SliceMilliseconds = 16;

    /// <summary>Runs <paramref name="plan"/>; <paramref name="report"/> hears of the report first and then of each
    /// sweep point; <paramref name="yieldAsync"/> hands control back to the browser.</summary>
    public static async Task<PlannerResult> RunAsync(PlannerPlan plan, Func<PlannerResult, Task> report, Func<Task> yieldAsync, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(yieldAsync);
        var clock = Stopwatch.StartNew();
        double lastYield = 0, away = 0; // away: time the browser had between pieces (painting, charts, input)
        async Task Piece()
        {
            if (clock.Elapsed.TotalMilliseconds - lastYield >= SliceMilliseconds)
            {
                double left = clock.Elapsed.TotalMilliseconds;
                await yieldAsync();
                lastYield = clock.Elapsed.TotalMilliseconds;
                away += lastYield - left;
            }
            cancel.ThrowIfCancellationRequested();
        }

        await yieldAsync(); // let the page show that it is working before the first piece
        // The pieces of SimulationReport.Create, in its order.
        RunResult paged = Simulator.RunPaged(plan.Config, plan.Requests, keepTimeline: true, plan.Trace.ThinkSteps, predictTime: true);
        await Piece();
        RunResult naive = Simulator.RunNaive(plan.Config, plan.Requests, keepTimeline: true, predictTime: true);
        await Piece();
        MaxBatchResult pagedMax = MaxBatchSearch.Run(plan.Config, plan.Trace, paged: true);
        await Piece();
        MaxBatchResult naiveMax = MaxBatchSearch.Run(plan.Config, plan.Trace, paged: false);
        var simulation = new SimulationReport(plan.Config, plan.Trace.Source, paged, naive, pagedMax, naiveMax);
        var sweep = new List<MemorySweepPoint>(plan.SweepSizes.Count);
        var result = new PlannerResult(simulation, [], clock.Elapsed.TotalMilliseconds, null, null);
        double reported = clock.Elapsed.TotalMilliseconds;
        await report(result);
        away += clock.Elapsed.TotalMilliseconds - reported;
        // The report's own max batches seed the sweep's guesses (see MemorySweep.At).
        var known = new List<MemorySweepPoint> { new(plan.Config.Memory.Gpu.TotalMemoryBytes, pagedMax, naiveMax) };
        foreach (long size in plan.SweepSizes)
        {
            await Piece();
            MemorySweepPoint point = MemorySweep.At(plan.Config, plan.Trace, size, known);
            sweep.Add(point);
            known.Add(point);
        }
        result = result with { Sweep = sweep.ToArray(), TotalMilliseconds = clock.Elapsed.TotalMilliseconds, SimulationMilliseconds = clock.Elapsed.TotalMilliseconds - away };
        await report(result);
        return result;
    }
}
