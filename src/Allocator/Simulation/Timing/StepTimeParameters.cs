namespace PagedSim.Allocator.Simulation;

/// <summary>
/// The effective figures one GPU's forward passes are priced with (see <see cref="StepTimeModel"/>): rates that
/// real kernels reach, and costs that do not shrink with bytes or FLOPs.
/// </summary>
/// <param name="Bandwidth">Effective memory bandwidth, bytes per second.</param>
/// <param name="MatrixFlops">Effective matrix rate, FLOP per second.</param>
/// <param name="PassSeconds">Fixed cost of every forward pass (launch latencies, norms and other short kernels).</param>
/// <param name="SequenceSeconds">Cost per sequence in a pass on the memory-bound side (a decode matmul's extra
/// cost per row, attention's per-sequence work, the row's logits and argmax).</param>
/// <param name="ShapeSeconds">One-time cost of each decode batch size met for the first time in a run (the runner
/// captures a CUDA graph per batch size; its first pass of a size runs without one).</param>
/// <param name="InterconnectBandwidth">All-reduce link bandwidth per direction, bytes per second (datasheet).</param>
/// <param name="AllReduceHopSeconds">Latency of one step of a ring all-reduce (assumed, not measured).</param>
/// <param name="BandwidthEfficiency">Effective bandwidth ÷ datasheet bandwidth.</param>
/// <param name="MatrixEfficiency">Effective matrix rate ÷ datasheet rate.</param>
/// <param name="Provenance">"measured" or "datasheet-scaled", with where and when.</param>
public sealed record StepTimeParameters(
    double Bandwidth, double MatrixFlops, double PassSeconds, double SequenceSeconds, double ShapeSeconds,
    double InterconnectBandwidth, double AllReduceHopSeconds, double BandwidthEfficiency, double MatrixEfficiency, string Provenance)
{
    /// <summary>Assumed latency of one hop of a ring all-reduce: a small all-reduce over 4 GPUs then costs 15 µs, the
    /// order NCCL is commonly reported to reach over NVLink. Not measured here; not yet validated.</summary>
    public const double DefaultAllReduceHopSeconds = 2.5e-6;

    private static readonly Lazy<(StepTimeFit Fit, GpuSpec Gpu)> s_reference = new(() =>
    {
        GpuSpec gpu = GpuSpec.Presets.First(g => g.Calibration is not null);
        return (gpu.Calibration!.Fit(gpu.Performance!), gpu);
    });

    /// <summary>The fit of the reference preset's measurements (the H200's), which every other preset scales.</summary>
    public static StepTimeFit ReferenceFit => s_reference.Value.Fit;

    /// <summary>
    /// The figures for <paramref name="gpu"/>: its own calibration fitted ("measured"), else its datasheet figures
    /// scaled by the reference GPU's measured efficiencies, fixed costs carried over unchanged ("datasheet-scaled");
    /// null when the GPU has no datasheet figures (a size given alone).
    /// </summary>
    public static StepTimeParameters? For(GpuSpec gpu)
    {
        ArgumentNullException.ThrowIfNull(gpu);
        if (gpu.Performance is not GpuPerformance p) return null;
        (StepTimeFit reference, GpuSpec referenceGpu) = s_reference.Value;
        if (gpu.Calibration is StepTimeCalibration own)
            return own == referenceGpu.Calibration && p == referenceGpu.Performance ? reference.Parameters : own.Fit(p).Parameters;
        StepTimeParameters r = reference.Parameters;
        return r with
        {
            Bandwidth = p.MemoryBandwidth * r.BandwidthEfficiency,
            MatrixFlops = p.MatrixFlops * r.MatrixEfficiency,
            InterconnectBandwidth = p.InterconnectBandwidth,
            Provenance = $"datasheet-scaled: {gpu.Name}'s datasheet figures × the efficiencies measured on {referenceGpu.Name} ({referenceGpu.Calibration!.Measured}); fixed costs as measured there",
        };
    }
}
