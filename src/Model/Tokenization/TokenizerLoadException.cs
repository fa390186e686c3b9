namespace PagedSim.Model.Tokenization;

/// <summary>A tokenizer file that cannot be used; the message names the file and the problem, on one line (control
/// characters from a corrupted file's values are escaped).</summary>
public sealed class TokenizerLoadException(string path, string problem, Exception? inner = null)
    : Exception(OneLine.Escape($"{path}: {problem}"), inner)
{
    /// <summary>The tokenizer file.</summary>
    public string Path { get; } = path;
}
