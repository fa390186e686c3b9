using PagedSim.Allocator.Simulation;

namespace PagedSim.Web.Planner;

/// <summary>The committed ShareGPT trace (fixtures/sharegpt-llama3.trace.json), embedded in the assembly.</summary>
public static class BuiltInTrace
{
    /// <summary>The file's name, as the command line reports it.</summary>
    public const string FileName = "sharegpt-llama3.trace.json";

    private static readonly Lazy<Trace> s_trace = new(() =>
    {
        using Stream stream = typeof(BuiltInTrace).Assembly.GetManifestResourceStream(FileName)
            ?? throw new InvalidOperationException($"The page was built without {FileName}.");
        return TraceFile.Parse(stream, FileName);
    });

    /// <summary>The trace (parsed once).</summary>
    public static Trace ShareGpt => s_trace.Value;
}
