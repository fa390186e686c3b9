using System.Runtime.InteropServices;

namespace PagedSim.Model.Parallel;

/// <summary>
/// Finds libnccl.so.2: <c>$PAGEDSIM_NCCL</c> (a file) when set; else the loader's own search (an NCCL install, or
/// <c>LD_LIBRARY_PATH</c>); else the copy a PyTorch install brings (pip's <c>nvidia/nccl/lib</c>, or <c>torch/lib</c>)
/// in the usual Python package folders and <c>$VIRTUAL_ENV</c>/<c>$CONDA_PREFIX</c>.
/// </summary>
internal static class NcclLibrary
{
    /// <summary>The environment variable naming libnccl.so.2 explicitly.</summary>
    public const string PathVariable = "PAGEDSIM_NCCL";

    /// <summary>The loaded library's handle; <see cref="NcclException"/> listing every place tried when none loads.</summary>
    public static nint Load()
    {
        var tried = new List<string>();
        foreach (string candidate in Candidates())
        {
            tried.Add(candidate);
            if (NativeLibrary.TryLoad(candidate, out nint handle)) return handle;
        }
        throw new NcclException($"libnccl.so.2 not found (tried {string.Join(", ", tried)}): install NCCL, or set {PathVariable} to a libnccl.so.2 (a PyTorch install has one in site-packages/nvidia/nccl/lib)");
    }

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
            foreach (string relative in (string[])["nvidia/nccl/lib/libnccl.so.2", "torch/lib/libnccl.so.2"])
            {
                string path = Path.Combine(root, relative);
                if (File.Exists(path)) yield return path;
            }
    }
}
