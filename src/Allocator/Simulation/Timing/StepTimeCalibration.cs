namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Measurements of one GPU that calibrate <see cref="StepTimeModel"/>, and the fit that turns them into effective
/// figures. Recalibrating is replacing the points (see docs/simulator.md for the recipe); the fit is here only.
/// </summary>
/// <param name="Gpu">The preset the measurements belong to.</param>
/// <param name="Device">The device as the driver names it.</param>
/// <param name="Measured">When.</param>
/// <param name="Setup">What ran: build, weights, kernels, attention, block size.</param>
/// <param name="Model">The model measured (a preset's name).</param>
/// <param name="DType">Its element type.</param>
/// <param name="Decode">Decode steps from <c>bench-step</c> (back to back).</param>
/// <param name="Runs">Static runs of the root command.</param>
/// <param name="BandwidthEfficiencyPrior">Effective ÷ datasheet bandwidth to assume when the decode points do not
/// separate bandwidth from per-pass and per-sequence costs (all at one context); null when they do.</param>
/// <param name="PriorSource">Where the prior comes from.</param>
public sealed record StepTimeCalibration(
    string Gpu, string Device, string Measured, string Setup, string Model, string DType,
    IReadOnlyList<DecodePoint> Decode, IReadOnlyList<RunPoint> Runs, double? BandwidthEfficiencyPrior = null, string? PriorSource = null)
{
    /// <summary>
    /// Fits the effective figures for a GPU of <paramref name="datasheet"/> figures:
    /// <list type="number">
    /// <item>decode points (all memory-bound) by least squares on t = pass + bytes ÷ bandwidth + batch × per-sequence
    /// cost; when every point has one context, bytes and batch move together and the bandwidth is the prior's;</item>
    /// <item>the matrix rate so that the runs' prefill passes sum to their measured seconds (bisection);</item>
    /// <item>the per-batch-size cost so that the runs' decode steps sum to their measured seconds.</item>
    /// </list>
    /// </summary>
    /// <exception cref="ArgumentException">The points are inconsistent or do not determine the figures.</exception>
    public StepTimeFit Fit(GpuPerformance datasheet)
    {
        ArgumentNullException.ThrowIfNull(datasheet);
        ModelSpec model = ModelSpec.FindPreset(Model) ?? throw new ArgumentException($"Calibration model \"{Model}\" is not a preset.");
        var memory = new MemoryModel(model, GpuSpec.OfSize(0, Gpu), DType, 1, OverheadModel.Default);
        var counter = new StepTimeModel(memory, Placeholder(datasheet));
        if (Decode.Count < 2 || Decode.Select(p => p.Batch).Distinct().Count() < 2)
            throw new ArgumentException("Calibration needs decode points at two batch sizes at least.");

        // 1. Decode: seconds = pass + bytes / bandwidth + batch × per sequence.
        double[] bytes = [.. Decode.Select(p => counter.Bytes(DecodePass(p)))];
        double[] batch = [.. Decode.Select(p => (double)p.Batch)];
        double[] seconds = [.. Decode.Select(p => p.Seconds)];
        double bandwidth, pass, perSequence;
        if (Decode.Select(p => p.Context).Distinct().Count() >= 2)
        {
            double[] x = LeastSquares.Solve([.. Decode.Select((_, i) => new[] { 1.0, bytes[i], batch[i] })], seconds);
            (pass, bandwidth, perSequence) = (x[0], 1 / x[1], x[2]);
        }
        else
        {
            double prior = BandwidthEfficiencyPrior
                ?? throw new ArgumentException("Decode points at one context need a bandwidth-efficiency prior (or points at a second context).");
            bandwidth = prior * datasheet.MemoryBandwidth;
            double[] x = LeastSquares.Solve([.. batch.Select(b => new[] { 1.0, b })], [.. seconds.Select((t, i) => t - bytes[i] / bandwidth)]);
            (pass, perSequence) = (x[0], x[1]);
        }
        if (!(bandwidth > 0) || pass < 0 || perSequence < 0)
            throw new ArgumentException($"Decode points give no physical fit (bandwidth {bandwidth / 1e12:0.###} TB/s, per pass {pass * 1e3:0.###} ms, per sequence {perSequence * 1e6:0.###} µs).");

        // 2. Prefill: the matrix rate at which the runs' prefill passes take their measured seconds.
        var parameters = Placeholder(datasheet) with { Bandwidth = bandwidth, PassSeconds = pass, SequenceSeconds = perSequence };
        double measuredPrefill = Runs.Sum(r => r.PrefillSeconds);
        double PrefillAt(double flops)
        {
            var m = new StepTimeModel(memory, parameters with { MatrixFlops = flops });
            return Runs.Sum(r => StaticTiming.Run(m, r.Requests, r.MaxPrefillTokens).PrefillSeconds);
        }
        double low = datasheet.MatrixFlops * 1e-3, high = datasheet.MatrixFlops * 1e3;
        if (Runs.Count == 0 || PrefillAt(high) > measuredPrefill || PrefillAt(low) < measuredPrefill)
            throw new ArgumentException($"The runs' prefill ({measuredPrefill:0.###} s) cannot be reached by any matrix rate with the decode fit.");
        for (int i = 0; i < 200 && high / low > 1 + 1e-12; i++)
        {
            double mid = Math.Sqrt(low * high);
            if (PrefillAt(mid) > measuredPrefill) low = mid;
            else high = mid;
        }
        parameters = parameters with { MatrixFlops = Math.Sqrt(low * high) };

        // 3. Decode in a run: what its steps take beyond bench-step's passes, per new batch size.
        foreach (RunPoint r in Runs) Check(r, new StepTimeModel(memory, parameters));
        var noShapes = new StepTimeModel(memory, parameters);
        TimingResult[] timed = [.. Runs.Select(r => StaticTiming.Run(noShapes, r.Requests, r.MaxPrefillTokens))];
        double extra = Runs.Sum(r => r.DecodeSeconds) - timed.Sum(t => t.DecodeSeconds);
        parameters = parameters with { ShapeSeconds = Math.Max(0, extra / timed.Sum(t => t.DecodeShapes)) };

        parameters = parameters with
        {
            BandwidthEfficiency = bandwidth / datasheet.MemoryBandwidth,
            MatrixEfficiency = parameters.MatrixFlops / datasheet.MatrixFlops,
            Provenance = $"measured on {Device} ({Gpu}), {Measured}: {Setup}",
        };
        var fitted = new StepTimeModel(memory, parameters);
        return new StepTimeFit(parameters,
            [.. Decode.Select(p => (p, fitted.Seconds(DecodePass(p))))],
            [.. Runs.Select(r => { TimingResult t = StaticTiming.Run(fitted, r.Requests, r.MaxPrefillTokens); return (r, t.PrefillSeconds, t.DecodeSeconds); })]);
    }

    /// <summary>The decode points of a <c>bench-step --json</c> file (its <c>calibration_points</c>: batch, context,
    /// seconds a step back to back).</summary>
    /// <exception cref="FormatException">Not such a document.</exception>
    public static IReadOnlyList<DecodePoint> ReadDecodePoints(string json)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            if (!doc.RootElement.TryGetProperty("calibration_points", out var points))
                throw new FormatException("no \"calibration_points\" (write it with bench-step --json)");
            return [.. points.EnumerateArray().Select(p => new DecodePoint(
                p.GetProperty("batch").GetInt32(), p.GetProperty("context").GetInt32(), p.GetProperty("seconds").GetDouble()))];
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"not a bench-step document: {e.Message.Split('\n')[0]}", e);
        }
    }

    /// <summary>The pass a decode point measures: each sequence reads its context and its new token.</summary>
    public static ForwardPass DecodePass(DecodePoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        return ForwardPass.Decode(point.Batch, (long)point.Batch * (point.Context + 1));
    }

    private static StepTimeParameters Placeholder(GpuPerformance datasheet) =>
        new(datasheet.MemoryBandwidth, datasheet.MatrixFlops, 0, 0, 0, datasheet.InterconnectBandwidth,
            StepTimeParameters.DefaultAllReduceHopSeconds, 1, 1, "fit in progress");

    private static void Check(RunPoint run, StepTimeModel model)
    {
        TimingResult t = StaticTiming.Run(model, run.Requests, run.MaxPrefillTokens);
        if (t.PrefillPasses != run.PrefillPasses)
            throw new ArgumentException($"Run \"{run.What}\": its requests make {t.PrefillPasses} prefill passes, the run reported {run.PrefillPasses}.");
        if (t.DecodePasses != run.DecodeSteps)
            throw new ArgumentException($"Run \"{run.What}\": its requests make {t.DecodePasses} decode steps, the run reported {run.DecodeSteps}.");
    }
}
