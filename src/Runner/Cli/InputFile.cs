namespace PagedSim.Runner;

/// <summary>Checks an input file before it is parsed: one line for missing, a directory, or empty.</summary>
internal static class InputFile
{
    /// <summary>Throws <see cref="UserError"/> naming <paramref name="option"/> and the path.</summary>
    public static void Check(string option, string? path)
    {
        if (path is null) return;
        if (Directory.Exists(path)) throw new UserError($"{option}: {path} is a directory, not a file");
        if (!File.Exists(path)) throw new UserError($"{option}: {path}: file not found");
        if (new FileInfo(path).Length == 0) throw new UserError($"{option}: {path} is empty");
    }
}
