namespace PagedSim.Runner;

/// <summary>Checks an output path before any work starts, so a long run never ends on "cannot write".</summary>
internal static class OutputPath
{
    /// <summary>The path meaning standard output, for options that allow it.</summary>
    public const string Stdout = "-";

    /// <summary>Throws <see cref="UserError"/> naming <paramref name="option"/> and the user's path when the file
    /// cannot be written: a directory, a missing directory, a wrong extension, or a place this process may not write.</summary>
    public static void Check(string option, string? path, string? extension = null, bool allowStdout = false)
    {
        if (path is null) return;
        if (path == Stdout)
        {
            if (allowStdout) return;
            throw new UserError($"{option}: give a file name (- for stdout is not supported here)");
        }
        if (path.Length == 0 || path.EndsWith('/') || Directory.Exists(path))
            throw new UserError($"{option}: {(path.Length == 0 ? "empty path" : $"{path} is a directory")}; give a file name");
        if (extension is not null && !path.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            throw new UserError($"{option}: {path}: the file name must end in {extension} (the only format written)");
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new UserError($"{option}: {path}: directory {dir} does not exist");
        // Create and remove the temporary file AtomicFile will write: proves the place is writable now.
        string probe = AtomicFile.TemporaryPath(full);
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string why = e is UnauthorizedAccessException ? "permission denied" : "not a writable directory";
            throw new UserError($"{option}: {path}: cannot create a file in {dir} ({why})");
        }
    }
}
