namespace PagedSim.Model.ShareGpt;

/// <summary>A ShareGPT file that cannot be used; the message names the file and the problem.</summary>
public sealed class ShareGptFormatException(string path, string problem, Exception? inner = null)
    : Exception($"{path}: {problem}", inner)
{
    /// <summary>The ShareGPT file.</summary>
    public string Path { get; } = path;
}
