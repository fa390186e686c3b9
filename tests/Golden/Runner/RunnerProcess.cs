using System.Diagnostics;

namespace PagedSim.Golden.Tests.Runner;

/// <summary>Runs the real program (<c>dotnet PagedSim.Runner.dll ARGS</c>) as a user would, in a working folder of the
/// test's choosing, and captures its exit code, stdout and stderr.</summary>
internal static class RunnerProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "PagedSim.Runner.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"PagedSim.Runner {string.Join(' ', args)} ran over 2 minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
