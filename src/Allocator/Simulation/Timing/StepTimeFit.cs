namespace PagedSim.Allocator.Simulation;

/// <summary>What <see cref="StepTimeCalibration.Fit"/> found, and how the fitted model reproduces its inputs.</summary>
/// <param name="Parameters">The effective figures ("measured").</param>
/// <param name="Decode">Each decode point with the fitted model's seconds for it (least squares: close, not exact).</param>
/// <param name="Runs">Each run with the fitted model's prefill and decode seconds (summed over runs, these match
/// the measured sums exactly).</param>
public sealed record StepTimeFit(
    StepTimeParameters Parameters, IReadOnlyList<(DecodePoint Point, double Predicted)> Decode,
    IReadOnlyList<(RunPoint Point, double PredictedPrefill, double PredictedDecode)> Runs);
