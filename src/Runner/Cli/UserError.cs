namespace PagedSim.Runner;

/// <summary>A failure the user can fix (bad argument, missing or malformed file): printed as one line, no stack trace.</summary>
internal sealed class UserError(string message, int exitCode = Cli.BadInput, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Process exit code.</summary>
    public int ExitCode { get; } = exitCode;
}
