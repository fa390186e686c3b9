using System.Text;

namespace PagedSim.Runner;

/// <summary>Writes output files whole or not at all: to a temporary file beside the target, then renamed over it.</summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text, new UTF8Encoding(false)));

    /// <summary>The temporary file beside <paramref name="fullPath"/> that a write goes through.</summary>
    public static string TemporaryPath(string fullPath) =>
        Path.Combine(Path.GetDirectoryName(fullPath) ?? ".", $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.tmp");

    public static void Write(string path, Action<string> writeTemporary)
    {
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new UserError($"{path}: directory {dir} does not exist");
        string tmp = TemporaryPath(full);
        try
        {
            writeTemporary(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(tmp);
            throw new UserError($"{path}: cannot write ({e.Message})", Cli.Failed, e);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }
    }
}
