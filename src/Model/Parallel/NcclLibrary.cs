using System.Runtime.InteropServices;

namespace PagedSim.Model.Parallel;

/// <summary>
/// Finds libnccl.so.2: <c>$PAGEDSIM_NCCL</c> (a file) when set; else the loader's own search (an NCCL install, or
/// <c>LD_LIBRARY_PATH</c>); else the copy a PyTorch install brings (pip's <c>nvidia/nccl/lib</c>, or <c>torch/lib</c>)
/// in the usual Python package folders and <c>$VIRTUAL_ENV</c>/<c>$CONDA_PREFIX</c>. Sets <c>NCCL_NVLS_ENABLE=0</c>
/// first unless the variable is set.
/// </summary>
internal static class NcclLibrary
{
    /// <summary>The environment variable naming libnccl.so.2 explicitly.</summary>
    public const string PathVariable = "PAGEDSIM_NCCL";

    /// <summary>The loaded library's handle; <see cref="NcclException"/> listing every place tried when none loads.</summary>
    public static nint Load()
    {
        // NVLink SHARP (multicast) stays off unless asked for: it helps large all-reduces, not a decode step's few
        // megabytes, and on shared hosts a program using multicast can take the GPUs out of service. NCCL reads the
        // variable from the native environment at initialisation (.NET's SetEnvironmentVariable does not reach it).
        if (Environment.GetEnvironmentVariable("NCCL_NVLS_ENABLE") is null) _ = SetEnv("NCCL_NVLS_ENABLE", "0", 0);
        var tried = new List<string>();
        foreach (string candidate in Candidates())
        {
            tried.Add(candidate);
            if (NativeLibrary.TryLoad(candidate, out nint handle)) return handle;
        }
        throw new NcclException($"libnccl.so.2 not found (tried {string.Join(", ", tried)}): install NCCL, or set {PathVariable} to a libnccl.so.2 (a PyTorch install has one in site-packages/nvidia/nccl/lib)");
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    private static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } explicitPath)
        {
            yield return explicitPath;
            yield break; // an explicit choice is not second-guessed
        }
        yield return "libnccl.so.2";
        var roots = new List<string>();
        foreach (string? prefix in (string?[])[Environment.GetEnvironmentVariable("VIRTUAL_ENV"), Environment.GetEnvironmentVariable("CONDA_PREFIX"),
                     "/usr/local", "/usr", Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local"), "/opt/conda"])
        {
            string lib = prefix is null ? "" : Path.Combine(prefix, "lib");
            if (!Directory.Exists(lib)) continue;
            foreach (string python in Directory.EnumerateDirectories(lib, "python3*"))
                foreach (string packages in (string[])["site-packages", "dist-packages"])
                    roots.Add(Path.Combine(python, packages));
        }
        roots.Add("/usr/lib/python3/dist-packages");
        foreach (string root in roots)
        {
            string torchCopy = Path.Combine(root, "torch/lib/libnccl.so.2");
            if (File.Exists(torchCopy)) yield return torchCopy;
            // pip's nvidia-nccl-cu12 has nvidia/nccl/lib/; later wheels put it elsewhere under nvidia/.
            string nvidia = Path.Combine(root, "nvidia");
            if (!Directory.Exists(nvidia)) continue;
            foreach (string path in Directory.EnumerateFiles(nvidia, "libnccl.so.2", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                yield return path;
        }
    }
}
