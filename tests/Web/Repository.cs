using System.Runtime.CompilerServices;

namespace PagedSim.Web.Tests;

/// <summary>Paths in the repository the tests run from (found by PagedSim.sln above the test's folder, or above this
/// source file as it was at build time).</summary>
internal static class Repository
{
    public static string Root { get; } = Find(AppContext.BaseDirectory) ?? Find(SourceDirectory())
        ?? throw new InvalidOperationException("cannot find PagedSim.sln above the tests' folder");

    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    private static string? Find(string start)
    {
        for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "PagedSim.sln"))) return dir.FullName;
        return null;
    }

    private static string SourceDirectory([CallerFilePath] string file = "") => System.IO.Path.GetDirectoryName(file) ?? ".";
}
