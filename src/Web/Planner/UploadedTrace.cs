namespace PagedSim.Web.Planner;

/// <summary>A trace file the user uploaded: its name and bytes, read when the setup is resolved.</summary>
/// <param name="Name">The file's name.</param>
/// <param name="Content">The file's bytes.</param>
public sealed record UploadedTrace(string Name, byte[] Content);
