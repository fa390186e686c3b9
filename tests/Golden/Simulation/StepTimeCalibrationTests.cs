using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>The calibration fit: it reproduces its inputs, recovers known figures from points a known model made,
/// refuses points that do not determine it, and the presets use it as documented.</summary>
public class StepTimeCalibrationTests
{
    private static readonly GpuPerformance s_h200 = GpuSpec.H200.Performance!;

    [Fact]
    public void The_h200_fit_reproduces_its_measurements()
    {
        StepTimeFit fit = H200Calibration.Measurements.Fit(s_h200);
        // Eight decode points at two contexts by least squares: each within 5.5% (the worst, 5.1%, at batch 1: one row
        // takes the GEMV path; the long-context points read KV faster than the short ones).
        Assert.All(fit.Decode, d => Assert.InRange(d.Predicted / d.Point.Seconds, 0.945, 1.055));
        // Prefill and decode of the run exactly: the matrix rate and the per-batch-size cost are solved for them.
        (RunPoint run, double prefill, double decode) = Assert.Single(fit.Runs);
        Assert.Equal(run.PrefillSeconds, prefill, 1e-9);
        Assert.Equal(run.DecodeSeconds, decode, 1e-9);
        Assert.Equal(12_003 / (0.95 + 1072 * 5.46e-3), 12_003 / (prefill + decode), 1e-6);
        StepTimeParameters p = fit.Parameters;
        // Fitted, not assumed: the points span two contexts (3.75 TB/s of the datasheet's 4.8).
        Assert.InRange(p.BandwidthEfficiency, 0.7, 0.85);
        Assert.InRange(p.MatrixEfficiency, 0.2, 0.6);
        Assert.True(p.PassSeconds > 0 && p.SequenceSeconds > 0 && p.ShapeSeconds > 0);
        Assert.StartsWith("measured on NVIDIA H200", p.Provenance);
    }

    [Fact]
    public void Points_at_two_contexts_recover_the_model_that_made_them()
    {
        // Points made by a known model (no noise): the three-unknown fit must give its figures back.
        var truth = new StepTimeParameters(3.5e12, 4e14, 4.2e-4, 9e-6, 0.011, 4.5e11, 5e-6, 1, 1, "truth");
        var model = new StepTimeModel(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.H200, "bf16", 1, OverheadModel.Default), truth);
        DecodePoint Point(int batch, int context) =>
            new(batch, context, model.Seconds(StepTimeCalibration.DecodePass(new DecodePoint(batch, context, 0))));
        var requests = H200Calibration.First49;
        TimingResult run = StaticTiming.Run(model, requests);
        var calibration = H200Calibration.Measurements with
        {
            Decode = [Point(1, 512), Point(8, 512), Point(49, 512), Point(128, 512), Point(8, 2048), Point(49, 2048)],
            Runs = [new RunPoint("made", requests, (int)run.PrefillPasses, run.PrefillSeconds, run.DecodePasses, run.DecodeSeconds)],
            BandwidthEfficiencyPrior = null,
        };
        StepTimeParameters p = calibration.Fit(s_h200).Parameters;
        Assert.Equal(truth.Bandwidth, p.Bandwidth, truth.Bandwidth * 1e-6);
        Assert.Equal(truth.PassSeconds, p.PassSeconds, 1e-9);
        Assert.Equal(truth.SequenceSeconds, p.SequenceSeconds, 1e-11);
        Assert.Equal(truth.MatrixFlops, p.MatrixFlops, truth.MatrixFlops * 1e-6);
        Assert.Equal(truth.ShapeSeconds, p.ShapeSeconds, 1e-7);
    }

    [Fact]
    public void Points_that_do_not_determine_the_fit_are_refused()
    {
        StepTimeCalibration h = H200Calibration.Measurements;
        Assert.Contains("prior", Assert.Throws<ArgumentException>(() => (h with { Decode = [.. h.Decode.Where(d => d.Context == 512)] }).Fit(s_h200)).Message);
        Assert.Contains("two batch sizes", Assert.Throws<ArgumentException>(() => (h with { Decode = [h.Decode[0]] }).Fit(s_h200)).Message);
        RunPoint run = h.Runs[0];
        Assert.Contains("prefill passes", Assert.Throws<ArgumentException>(() => (h with { Runs = [run with { PrefillPasses = 45 }] }).Fit(s_h200)).Message);
        Assert.Contains("decode steps", Assert.Throws<ArgumentException>(() => (h with { Runs = [run with { DecodeSteps = 1000 }] }).Fit(s_h200)).Message);
    }

    [Fact]
    public void Presets_are_measured_or_datasheet_scaled_by_the_h200_efficiencies()
    {
        StepTimeParameters h200 = StepTimeParameters.For(GpuSpec.H200)!;
        Assert.StartsWith("measured", h200.Provenance);
        foreach (GpuSpec gpu in GpuSpec.Presets.Where(g => g.Name != "h200"))
        {
            StepTimeParameters p = StepTimeParameters.For(gpu)!;
            Assert.StartsWith("datasheet-scaled", p.Provenance);
            Assert.Equal(gpu.Performance!.MemoryBandwidth * h200.BandwidthEfficiency, p.Bandwidth, 1e-3);
            Assert.Equal(gpu.Performance.MatrixFlops * h200.MatrixEfficiency, p.MatrixFlops, 1e-3);
            Assert.Equal(h200.PassSeconds, p.PassSeconds);
        }
        Assert.Null(StepTimeParameters.For(GpuSpec.OfSize(80_000_000_000, "80GB")));
        // The H200's chip with another memory size keeps its measured figures.
        Assert.Same(h200, StepTimeParameters.For(GpuSpec.H200 with { TotalMemoryBytes = 96_000_000_000 }));
    }

    [Theory]
    [InlineData("NVIDIA H200", "h200")]
    [InlineData("NVIDIA H100 80GB HBM3", "h100-80gb")]
    [InlineData("NVIDIA A100-SXM4-80GB", "a100-80gb")]
    [InlineData("NVIDIA A100-SXM4-40GB", "a100-40gb")]
    [InlineData("NVIDIA GeForce RTX 4090", "rtx4090")]
    [InlineData("NVIDIA L4", "l4")]
    [InlineData("NVIDIA A10G", "a10g")]
    public void Device_names_match_their_presets(string device, string preset) =>
        Assert.Equal(preset, GpuSpec.MatchDevice(device)!.Name);

    [Fact]
    public void Unknown_devices_match_nothing() => Assert.Null(GpuSpec.MatchDevice("NVIDIA H100 PCIe"));
}
