namespace PagedSim.Allocator.Simulation;

/// <summary>
/// The measurements the H200 preset is calibrated from: the one place to change when the H200 is measured again
/// (docs/simulator.md, "Recalibrating"). Every other preset scales its datasheet figures by the efficiencies these
/// give.
/// </summary>
public static class H200Calibration
{
    /// <summary>The first 49 requests of fixtures/sharegpt-llama3.trace.json: (prompt tokens, answer tokens), the
    /// lengths the runner's <c>49 --synthetic</c> generates.</summary>
    public static IReadOnlyList<(int Prompt, int Output)> First49 { get; } =
    [
        (44, 245), (27, 72), (72, 399), (101, 126), (458, 5), (776, 6), (280, 188), (26, 182), (27, 6), (15, 248),
        (60, 620), (20, 195), (376, 23), (427, 34), (354, 63), (413, 7), (104, 9), (18, 130), (57, 446), (13, 663),
        (22, 41), (501, 48), (29, 120), (350, 233), (80, 2), (2072, 331), (340, 1058), (2589, 388), (397, 38),
        (39, 22), (1045, 36), (1822, 300), (309, 28), (1824, 482), (491, 1073), (979, 236), (1075, 46), (1019, 285),
        (29, 245), (207, 253), (23, 701), (31, 114), (25, 218), (40, 590), (18, 309), (26, 138), (34, 509),
        (20, 170), (422, 322)
    ];

    /// <summary>NVIDIA H200, synthetic Llama-3-8B bf16 weights, flash-attn 2, fused kernels with decode steps as CUDA
    /// graphs, block 256; measured in one call on 2026-12-03.</summary>
    public static StepTimeCalibration Measurements { get; } = new(
        Gpu: "h200",
        Device: "NVIDIA H200",
        Measured: "2026-12-03",
        Setup: "synthetic Llama-3-8B bf16, flash-attn 2, fused kernels with CUDA-graph decode steps, block 256; "
            + "bench-step --batch 1,8,49,128 --context 512,2048 (back to back) and 49 --synthetic (paged)",
        Model: "llama3-8b",
        DType: "bf16",
        // Two contexts separate the bandwidth from the per-pass and per-sequence costs: no prior needed.
        Decode:
        [
            new DecodePoint(1, 512, 4.412e-3),
            new DecodePoint(8, 512, 4.780e-3),
            new DecodePoint(49, 512, 5.947e-3),
            new DecodePoint(128, 512, 8.352e-3),
            new DecodePoint(1, 2048, 4.626e-3),
            new DecodePoint(8, 2048, 5.420e-3),
            new DecodePoint(49, 2048, 9.068e-3),
            new DecodePoint(128, 2048, 15.023e-3),
        ],
        Runs:
        [
            // 1,761.4 answer tokens/s over 6.81 s: prefill 44 passes (19,526 prompt tokens) in 0.95 s, then 1,072
            // decode steps of 5.46 ms on average.
            new RunPoint("49 --synthetic (paged)", First49, PrefillPasses: 44, PrefillSeconds: 0.95, DecodeSteps: 1072, DecodeSeconds: 1072 * 5.46e-3),
        ]);
}
