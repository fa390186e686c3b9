using FsCheck.Xunit;
using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>
/// Random admit / append / fork / free runs on small pools, checked against <see cref="CacheModel"/> after every
/// step (see <see cref="ModelChecks"/> and <see cref="ManagerReplay"/> for the invariants).
/// </summary>
public class KvCacheManagerProperties
{
    [Property(MaxTest = 1500, Arbitrary = [typeof(AllocatorArbitraries)])]
    public void DefaultPolicyMatchesModelAfterEveryStep(Scenario scenario) =>
        ManagerReplay.Run(scenario, AllocationPolicy.Default);

    [Property(MaxTest = 1500, Arbitrary = [typeof(AllocatorArbitraries)])]
    public void SeedCompatiblePolicyMatchesModelAfterEveryStep(Scenario scenario) =>
        ManagerReplay.Run(scenario, AllocationPolicy.SeedCompatible);

    /// <summary>
    /// Appending k tokens at once leaves the manager exactly as k single appends would (same blocks, same copies),
    /// whenever the k-token append succeeds; when it fails, neither manager changes.
    /// </summary>
    [Property(MaxTest = 1000, Arbitrary = [typeof(AllocatorArbitraries)])]
    public void AppendManyEqualsRepeatedAppendOne(Scenario scenario)
    {
        var options = new KvCacheOptions(scenario.NumBlocks, scenario.BlockSize, scenario.MaxSequenceLength);
        var many = new KvCacheManager(options);
        var single = new KvCacheManager(options);
        var running = new List<int>();
        int maxId = -1;
        foreach (Op op in scenario.Ops)
        {
            if (op.Target < 0) continue; // raw ids are covered elsewhere
            int id = running.Count > 0 ? running[op.Target % running.Count] : op.Target;
            switch (op.Kind)
            {
                case OpKind.Admit when many.CanAdmit(Math.Max(op.Count, 1)) && op.Count > 0:
                    int admitted = many.Admit(op.Count);
                    Assert.Equal(admitted, single.Admit(op.Count));
                    running.Add(admitted);
                    maxId = Math.Max(maxId, admitted);
                    break;
                case OpKind.AppendOne or OpKind.AppendMany when running.Count > 0 && op.Count > 0:
                    BlockCopy copy;
                    try { copy = many.Append(id, op.Count); }
                    catch (OutOfBlocksException) { break; }
                    catch (ArgumentOutOfRangeException) { break; } // too long
                    var copies = new List<BlockCopy>();
                    for (int i = 0; i < op.Count; i++) copies.Add(single.Append(id));
                    Assert.Equal([copy], copies.Where(c => c.IsNeeded).DefaultIfEmpty(BlockCopy.None));
                    break;
                case OpKind.Fork when running.Count > 0:
                    int child = many.Fork(id);
                    Assert.Equal(child, single.Fork(id));
                    running.Add(child);
                    maxId = Math.Max(maxId, child);
                    break;
                case OpKind.Free when running.Count > 0:
                    many.Free(id);
                    single.Free(id);
                    running.Remove(id);
                    break;
            }
            Assert.Equal(ManagerSnapshot.Describe(many, maxId), ManagerSnapshot.Describe(single, maxId));
        }
    }
}
