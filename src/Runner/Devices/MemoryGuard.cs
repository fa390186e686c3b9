using System.Globalization;
using PagedSim.Allocator.Simulation;
using PagedSim.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Runner;

/// <summary>
/// Refuses a run before it allocates what the device cannot hold: the OS kills a process that overcommits host
/// memory without a word, and CUDA fails halfway through creating weights. One line with the memory needed and
/// available, exit 2.
/// </summary>
internal static class MemoryGuard
{
    /// <summary>On the CPU, room beside the weights for activations, the KV cache of a small run and the runtime.</summary>
    private const double HostMargin = 1.10;

    /// <summary>Throws <see cref="UserError"/> when the weights of <paramref name="config"/> on <paramref name="device"/>
    /// (float32 on the CPU, bf16 on CUDA) plus <paramref name="extraBytes"/> exceed the memory available.</summary>
    public static void CheckWeights(Llama3Config config, Device device, string what, long extraBytes = 0)
    {
        bool cpu = device.type == DeviceType.CPU;
        long weights = WeightBytes(config, cpu ? 4 : 2);
        // On CUDA the weights plus the fixed overhead (context, workspaces) must fit; the KV pool takes what is left.
        long needed = (cpu ? (long)(weights * HostMargin) : weights + OverheadModel.DefaultFixedBytes) + extraBytes;
        long? available = cpu ? HostAvailable() : RunDeviceMemory.Query()?.Free;
        if (available is not long free || needed <= free) return;
        string where = cpu ? "host memory (float32 on the CPU)" : $"GPU memory ({RunDeviceMemory.Name() ?? "CUDA device 0"}, bf16)";
        throw new UserError(string.Create(CultureInfo.InvariantCulture,
            $"{what}: the model ({config.Layers} layers, dim {config.Dim}: {WeightParameters(config) / 1e9:0.00}B parameters) needs about {needed / 1e9:0.00} GB of {where}; {free / 1e9:0.00} GB is available{(cpu ? " — use a GPU, or a smaller model (--model tiny with --synthetic)" : "")}"));
    }

    /// <summary>Bytes of every weight at <paramref name="elementBytes"/> each.</summary>
    public static long WeightBytes(Llama3Config c, int elementBytes) => WeightParameters(c) * elementBytes;

    private static long WeightParameters(Llama3Config c) =>
        new ModelSpec("checkpoint", c.Dim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.HiddenDim, 1.0, c.TiedEmbeddings).ParameterCount;

    /// <summary>Memory this process may still take: the kernel's MemAvailable, bounded by a cgroup limit if one is set.</summary>
    internal static long? HostAvailable()
    {
        long? available = null;
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    available = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            string max = "/sys/fs/cgroup/memory.max", current = "/sys/fs/cgroup/memory.current";
            if (File.Exists(max) && File.Exists(current) && long.TryParse(File.ReadAllText(max).Trim(), out long limit)
                && long.TryParse(File.ReadAllText(current).Trim(), out long used))
                available = Math.Min(available ?? long.MaxValue, limit - used);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
        return available ?? (long?)GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }
}
