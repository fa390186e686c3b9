namespace PagedSim.Allocator.Simulation;

/// <summary>A GPU chip's datasheet figures: what the time model scales by measured efficiencies.</summary>
/// <param name="MemoryBandwidth">Device memory bandwidth, bytes per second.</param>
/// <param name="MatrixFlops">Dense bf16 tensor-core rate (no sparsity), FLOP per second.</param>
/// <param name="InterconnectBandwidth">GPU-to-GPU bandwidth per direction, bytes per second (NVLink, else PCIe):
/// what a tensor-parallel all-reduce moves data at.</param>
/// <param name="Interconnect">The link, in words.</param>
/// <param name="Source">Where the figures come from.</param>
public sealed record GpuPerformance(double MemoryBandwidth, double MatrixFlops, double InterconnectBandwidth, string Interconnect, string Source)
{
    /// <summary>Bytes per second from TB/s.</summary>
    public static double TBps(double tb) => tb * 1e12;

    /// <summary>FLOP per second from TFLOPS.</summary>
    public static double Tflops(double t) => t * 1e12;

    /// <summary>Bytes per second from GB/s.</summary>
    public static double GBps(double gb) => gb * 1e9;
}
