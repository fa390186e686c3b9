namespace PagedSim.Allocator.Simulation;

/// <summary>
/// How the runner prefills a static batch: prompts of equal length share a pass (attention takes one query length
/// per call), at most <c>maxTokens</c> tokens a pass, lengths in order of first appearance
/// (<c>BatchGenerator.PrefillWhole</c>). Each pass also produces its requests' first tokens.
/// </summary>
public static class PrefillPlan
{
    /// <summary>The passes for <paramref name="lengths"/>: each pass's token length and the indices of its requests.</summary>
    public static IReadOnlyList<(int Length, int[] Requests)> Passes(IReadOnlyList<int> lengths, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        var groups = new Dictionary<int, List<int>>();
        var order = new List<int>();
        for (int i = 0; i < lengths.Count; i++)
        {
            if (!groups.TryGetValue(lengths[i], out List<int>? members))
            {
                groups[lengths[i]] = members = [];
                order.Add(lengths[i]);
            }
            members.Add(i);
        }
        var passes = new List<(int, int[])>();
        foreach (int length in order)
            foreach (int[] chunk in groups[length].Chunk(Math.Max(1, maxTokens / length)))
                passes.Add((length, chunk));
        return passes;
    }
}
