namespace PagedSim.Allocator.Simulation;

/// <summary>
/// How the runner prefills a static batch: prompts of equal length share a part (attention takes one query length
/// per call), at most <c>maxTokens</c> tokens a part, lengths in order of first appearance
/// (<c>BatchGenerator.PrefillWhole</c>); each part is a pass of its own, or, ragged, consecutive parts share a pass
/// while its tokens stay within <c>maxTokens</c>. Each pass also produces its requests' first tokens.
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

    /// <summary>
    /// The ragged passes for <paramref name="lengths"/>: the parts of <see cref="Passes"/>, consecutive ones sharing a
    /// pass while its tokens stay within <paramref name="maxTokens"/> (a part larger than that is a pass alone).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<(int Length, int[] Requests)>> RaggedPasses(IReadOnlyList<int> lengths, int maxTokens)
    {
        var passes = new List<IReadOnlyList<(int, int[])>>();
        var pass = new List<(int, int[])>();
        long tokens = 0;
        foreach ((int length, int[] members) in Passes(lengths, maxTokens))
        {
            long partTokens = (long)length * members.Length;
            if (pass.Count > 0 && tokens + partTokens > maxTokens)
            {
                passes.Add(pass);
                pass = [];
                tokens = 0;
            }
            pass.Add((length, members));
            tokens += partTokens;
        }
        if (pass.Count > 0) passes.Add(pass);
        return passes;
    }
}
