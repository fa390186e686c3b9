using System.Runtime.CompilerServices;

namespace PagedSim.Runner;

/// <summary>
/// Finds the repository's <c>fixtures</c> folder, so commands default to the committed fixtures wherever they run from:
/// <c>PAGEDSIM_FIXTURES</c> if set, else the first folder named <c>fixtures</c> holding <c>sharegpt-filtered.json</c>
/// found walking up from the program's folder, then from the current directory, then from this source file's folder as
/// it was at build time (test runners start in their output folder, which may lie outside the repository).
/// </summary>
internal static class Fixtures
{
    /// <summary>The file that marks the fixtures folder.</summary>
    public const string MarkerFile = "sharegpt-filtered.json";

    /// <summary>Environment variable that names the fixtures folder explicitly.</summary>
    public const string EnvironmentVariable = "PAGEDSIM_FIXTURES";

    private static readonly Lazy<string?> s_directory = new(Find);

    /// <summary>The fixtures folder, or null when none was found.</summary>
    public static string? Directory => s_directory.Value;

    /// <summary>The full path of a file under the fixtures folder, e.g. <c>Fixtures.Path("llama3/tokenizer.model")</c>.
    /// The file need not exist.</summary>
    /// <exception cref="UserError">No fixtures folder was found.</exception>
    public static string Path(string relativePath)
    {
        string directory = Directory ?? throw new UserError(
            $"cannot find the repository's fixtures folder (looked above {AppContext.BaseDirectory}, {Environment.CurrentDirectory} and {SourceDirectory()} "
            + $"for fixtures/{MarkerFile}); pass the file explicitly or set {EnvironmentVariable}");
        return System.IO.Path.Combine(directory, relativePath);
    }

    private static string? Find()
    {
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(configured)) return System.IO.Path.GetFullPath(configured);
        return WalkUp(AppContext.BaseDirectory) ?? WalkUp(Environment.CurrentDirectory) ?? WalkUp(SourceDirectory());
    }

    private static string SourceDirectory([CallerFilePath] string sourceFile = "") =>
        System.IO.Path.GetDirectoryName(sourceFile) ?? ".";

    private static string? WalkUp(string start)
    {
        if (string.IsNullOrEmpty(start) || !System.IO.Directory.Exists(start)) return null;
        for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
        {
            string candidate = System.IO.Path.Combine(dir.FullName, "fixtures");
            if (File.Exists(System.IO.Path.Combine(candidate, MarkerFile))) return candidate;
        }
        return null;
    }
}
