namespace PagedSim.Allocator.Simulation;

/// <summary>A GPU's memory as PyTorch reports it (<c>torch.cuda.get_device_properties(0).total_memory</c>).</summary>
/// <param name="Name">Preset name, or the size as given.</param>
/// <param name="TotalMemoryBytes">Device memory in bytes.</param>
/// <param name="Note">Where the figure comes from.</param>
public sealed record GpuSpec(string Name, long TotalMemoryBytes, string Note)
{
    /// <summary>The seed's card: 7.23 GB printed as 28.46% implies 25,393,692,672 bytes (24,217.3 MiB).</summary>
    public static GpuSpec Rtx4090 { get; } = new("rtx4090", 25_393_692_672, "GeForce RTX 4090 24 GB, as implied by the seed's printout");

    /// <summary>Named presets. Only <see cref="Rtx4090"/> is pinned by a published figure; the others are PyTorch
    /// readings of typical drivers and may differ by tens of MiB on other driver versions.</summary>
    public static IReadOnlyList<GpuSpec> Presets { get; } =
    [
        Rtx4090,
        new("l4", 23_580_639_232, "NVIDIA L4 24 GB (approximate)"),
        new("a10g", 23_836_098_560, "NVIDIA A10G 24 GB (approximate)"),
        new("a100-40gb", 42_505_273_344, "NVIDIA A100 40 GB (approximate)"),
        new("a100-80gb", 85_097_971_712, "NVIDIA A100 80 GB (approximate)"),
        new("h100-80gb", 85_029_158_912, "NVIDIA H100 80 GB HBM3 SXM (approximate)"),
        new("h200", 150_110_011_392, "NVIDIA H200 141 GB (approximate)"),
    ];

    /// <summary>The preset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static GpuSpec? FindPreset(string name) =>
        Presets.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>A GPU of any size, e.g. from <c>--gpu-mem 24GiB</c>.</summary>
    public static GpuSpec OfSize(long bytes, string label) => new(label, bytes, "size given on the command line");
}
