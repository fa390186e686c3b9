using System.Diagnostics;

namespace PagedSim.Gpu.Tests;

/// <summary>
/// Runs the runner as a user does, in a process of its own (<c>dotnet PagedSim.Runner.dll ARGS</c>, the assembly
/// beside the tests). Memory figures need that: libtorch's caching allocator keeps what earlier tests in this process
/// freed, and the runner measures the whole device (total − free).
/// </summary>
internal static class RunnerProcess
{
    /// <summary>What a run printed, and how it ended.</summary>
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs the runner with <paramref name="args"/>; fails the test if it does not end within <paramref name="timeout"/>.</summary>
    public static Result Run(IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "PagedSim.Runner.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("the runner process did not start");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the runner did not end within {timeout.TotalSeconds:0} s: {string.Join(' ', start.ArgumentList)}");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Skips unless the device is idle: a run measures every byte in use on it, so memory held by this process
    /// (earlier tests' cached blocks) or another one would count in its peak.
    /// </summary>
    public static void SkipUnlessDeviceIdle(long total, long free)
    {
        const long IdleBytes = 1_500_000_000; // a CUDA context and a little more
        Assert.SkipWhen(total - free > IdleBytes,
            $"{(total - free) / 1e9:F1} GB of device memory is in use (by earlier tests in this process or another process); " +
            "run this class alone: dotnet PagedSim.Gpu.Tests.dll -class PagedSim.Gpu.Tests.ModelSizeTests");
    }

    // The host running these tests when it is `dotnet`; else the one DOTNET_ROOT or PATH names.
    private static string DotnetHost()
    {
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (root is not null && File.Exists(Path.Combine(root, "dotnet"))) return Path.Combine(root, "dotnet");
        return "dotnet";
    }
}
