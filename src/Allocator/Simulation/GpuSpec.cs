namespace PagedSim.Allocator.Simulation;

/// <summary>A GPU's memory as PyTorch reports it (<c>torch.cuda.get_device_properties(0).total_memory</c>), and
/// the chip's datasheet figures the time model works from.</summary>
/// <param name="Name">Preset name, or the size as given.</param>
/// <param name="TotalMemoryBytes">Device memory in bytes.</param>
/// <param name="Note">Where the figure comes from.</param>
/// <param name="Performance">Datasheet bandwidth, matrix rate and interconnect; null for a size given alone.</param>
/// <param name="Calibration">Measurements on this GPU that calibrate the time model ("measured"); null when its
/// figures are the reference GPU's efficiencies applied to its datasheet ("datasheet-scaled").</param>
public sealed record GpuSpec(string Name, long TotalMemoryBytes, string Note, GpuPerformance? Performance = null, StepTimeCalibration? Calibration = null)
{
    private const string Datasheets = "NVIDIA datasheet";

    /// <summary>The seed's card: 7.23 GB printed as 28.46% implies 25,393,692,672 bytes (24,217.3 MiB).</summary>
    public static GpuSpec Rtx4090 { get; } = new("rtx4090", 25_393_692_672, "GeForce RTX 4090 24 GB, as implied by the seed's printout",
        new(GpuPerformance.TBps(1.008), GpuPerformance.Tflops(165.2), GpuPerformance.GBps(32), "PCIe 4.0 x16",
            "Ada whitepaper: 1,008 GB/s; 165.2 TFLOPS bf16 dense with fp32 accumulate; no NVLink"));

    /// <summary>The H200 SXM, the calibrated GPU.</summary>
    public static GpuSpec H200 { get; } = new("h200", 150_110_011_392, "NVIDIA H200 141 GB (approximate)",
        new(GpuPerformance.TBps(4.8), GpuPerformance.Tflops(989), GpuPerformance.GBps(450), "NVLink 4 (900 GB/s both ways)",
            $"{Datasheets} (H200 SXM): 4.8 TB/s, 989 TFLOPS bf16 dense"),
        H200Calibration.Measurements);

    /// <summary>Named presets. Only <see cref="Rtx4090"/>'s memory is pinned by a published figure; the others are
    /// PyTorch readings of typical drivers and may differ by tens of MiB on other driver versions.</summary>
    public static IReadOnlyList<GpuSpec> Presets { get; } =
    [
        Rtx4090,
        new("l4", 23_580_639_232, "NVIDIA L4 24 GB (approximate)",
            new(GpuPerformance.TBps(0.3), GpuPerformance.Tflops(121), GpuPerformance.GBps(32), "PCIe 4.0 x16", $"{Datasheets}: 300 GB/s, 121 TFLOPS bf16 dense")),
        new("a10g", 23_836_098_560, "NVIDIA A10G 24 GB (approximate)",
            new(GpuPerformance.TBps(0.6), GpuPerformance.Tflops(125), GpuPerformance.GBps(32), "PCIe 4.0 x16",
                $"{Datasheets} of the A10 (600 GB/s, 125 TFLOPS bf16 dense); NVIDIA publishes no A10G figures: approximate")),
        new("a100-40gb", 42_505_273_344, "NVIDIA A100 40 GB (approximate)",
            new(GpuPerformance.TBps(1.555), GpuPerformance.Tflops(312), GpuPerformance.GBps(300), "NVLink 3 (600 GB/s both ways)", $"{Datasheets} (A100 40GB SXM): 1,555 GB/s, 312 TFLOPS bf16 dense")),
        new("a100-80gb", 85_097_971_712, "NVIDIA A100 80 GB (approximate)",
            new(GpuPerformance.TBps(2.039), GpuPerformance.Tflops(312), GpuPerformance.GBps(300), "NVLink 3 (600 GB/s both ways)", $"{Datasheets} (A100 80GB SXM): 2,039 GB/s, 312 TFLOPS bf16 dense")),
        new("h100-80gb", 85_029_158_912, "NVIDIA H100 80 GB HBM3 SXM (approximate)",
            new(GpuPerformance.TBps(3.35), GpuPerformance.Tflops(989), GpuPerformance.GBps(450), "NVLink 4 (900 GB/s both ways)", $"{Datasheets} (H100 SXM): 3.35 TB/s, 989 TFLOPS bf16 dense")),
        H200,
    ];

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static GpuSpec? FindPreset(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The preset of a device the driver names <paramref name="deviceName"/> (e.g. "NVIDIA H200",
    /// "NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090"), or null when none matches.</summary>
    public static GpuSpec? MatchDevice(string deviceName)
    {
        ArgumentNullException.ThrowIfNull(deviceName);
        string n = deviceName.ToUpperInvariant();
        string? preset = n.Contains("H200") ? "h200"
            : n.Contains("H100") && !n.Contains("PCIE") ? "h100-80gb"
            : n.Contains("A100") ? (n.Contains("80GB") ? "a100-80gb" : "a100-40gb")
            : n.Contains("A10G") ? "a10g"
            : n.Contains("RTX 4090") ? "rtx4090"
            : System.Text.RegularExpressions.Regex.IsMatch(n, @"\bL4\b") ? "l4"
            : null;
        return preset is null ? null : FindPreset(preset);
    }

    /// <summary>A GPU of any size, e.g. from <c>--gpu-mem 24GiB</c>.</summary>
    public static GpuSpec OfSize(long bytes, string label) => new(label, bytes, "size given on the command line");
}
