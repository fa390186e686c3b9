namespace PagedSim.Allocator.Scheduling;

/// <summary>Orders events by step, then by request (oldest first). Written out rather than left to the tuple's default
/// comparer, whose generic calls cost several times more in the WebAssembly interpreter the web planner runs on.</summary>
internal sealed class EventOrder : IComparer<(long Step, int Request)>
{
    public static EventOrder Instance { get; } = new();

    public int Compare((long Step, int Request) x, (long Step, int Request) y) =>
        x.Step != y.Step ? (x.Step < y.Step ? -1 : 1) : x.Request.CompareTo(y.Request);
}
