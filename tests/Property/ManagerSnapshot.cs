using System.Text;
using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>
/// Everything observable about a manager, as text: counters, every reference count, the dense view and the table of
/// every id up to the highest the run has seen. Equal text before and after a failed step means it changed nothing.
/// </summary>
internal static class ManagerSnapshot
{
    public static readonly KvLayout Layout = new(Layers: 3, KvHeads: 2, HeadDim: 4, BytesPerElement: 2);

    /// <summary>2 (K and V) × 3 layers × 2 heads × 4 elements × 2 bytes, worked out by hand.</summary>
    public const long BytesPerToken = 96;

    public static string Describe(KvCacheManager m, int maxId)
    {
        var s = new StringBuilder();
        s.Append($"total {m.TotalBlocks} free {m.FreeBlocks} used {m.UsedBlocks} running {m.RunningCount} retired {m.RetiredCount} ");
        s.Append($"reserved {m.ReservedSlots} filled {m.FilledSlots} seedFragmented {m.SeedFragmentedBytes(Layout)}\n");
        s.Append("refs");
        for (int b = 0; b < m.TotalBlocks; b++) s.Append(' ').Append(m.Pool.RefCount(b));
        s.Append("\ndense ").AppendJoin(' ', m.DenseBlockTable.ToArray());
        s.Append("\nlengths ").AppendJoin(' ', m.DenseSequenceLengths.ToArray());
        s.Append("\nrows ").AppendJoin(' ', m.RunningSequences.ToArray());
        for (int id = 0; id <= maxId + 1; id++)
        {
            s.Append($"\n{id}: ");
            if (m.IsRunning(id) || m.RetiredCount > 0 && TryTable(m, id) is not null)
            {
                BlockTable t = m.Table(id);
                s.Append(m.IsRunning(id) ? "running " : "retired ").Append(t.TokenCount).Append(" [").AppendJoin(' ', t.Blocks.ToArray()).Append(']');
            }
            else
            {
                s.Append('-');
            }
        }
        return s.ToString();
    }

    private static BlockTable? TryTable(KvCacheManager m, int id)
    {
        try { return m.Table(id); }
        catch (ArgumentException) { return null; }
    }
}
