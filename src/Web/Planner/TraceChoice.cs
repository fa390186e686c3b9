namespace PagedSim.Web.Planner;

/// <summary>Where the planner's requests come from.</summary>
public enum TraceChoice
{
    /// <summary>The committed ShareGPT trace (99 single-turn conversations), built into the page.</summary>
    ShareGpt,

    /// <summary>Requests drawn from the ShareGPT trace's length distribution (count, seed).</summary>
    Synthetic,

    /// <summary>A <c>pagedsim-trace/1</c> file the user uploaded (not part of a shared link).</summary>
    Upload,
}
