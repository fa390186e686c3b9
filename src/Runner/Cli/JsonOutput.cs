using System.Text.Json;
using System.Text.Json.Serialization;

namespace PagedSim.Runner;

/// <summary>Every JSON document the commands write: indented, snake_case keys (dictionary keys too), enums as
/// snake_case strings; written atomically to a file or to stdout for <c>--json -</c>.</summary>
internal static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Serialize(object? value) => JsonSerializer.Serialize(value, Options) + "\n";

    /// <summary>Writes <paramref name="json"/> to <paramref name="path"/>, or to <paramref name="stdout"/> for "-".</summary>
    public static void Write(string path, string json, TextWriter stdout)
    {
        if (path == OutputPath.Stdout) stdout.Write(json);
        else AtomicFile.WriteAllText(path, json);
    }
}
