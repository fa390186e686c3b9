using PagedSim.Tests.Shared;

namespace PagedSim.Golden.Tests.Gguf;

/// <summary>fixtures/stories260k: Karpathy's stories260K as GGUF and llama2.c's published greedy sample.</summary>
internal static class Stories260K
{
    public static string Dir => System.IO.Path.GetFullPath(System.IO.Path.Combine(TinyLlamaFixture.Root, "..", "stories260k"));

    public static string Path => System.IO.Path.Combine(Dir, "stories260K.gguf");

    /// <summary>The text run.c printed (without its final newline).</summary>
    public static string PublishedGreedySample => File.ReadAllText(System.IO.Path.Combine(Dir, "greedy-sample.txt")).TrimEnd('\n');
}
