using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>
/// Replays a <see cref="Scenario"/> on a manager, step by step, against <see cref="CacheModel"/>. A twin manager
/// sees only the steps that succeed: if a failed step left any hidden trace (a moved free block, a used random
/// draw), the two would later pick different blocks and their snapshots would differ.
/// </summary>
internal static class ManagerReplay
{
    public static void Run(Scenario s, AllocationPolicy policy)
    {
        var options = new KvCacheOptions(s.NumBlocks, s.BlockSize, s.MaxSequenceLength, policy, s.Seed);
        var manager = new KvCacheManager(options);
        var twin = new KvCacheManager(options);
        var model = new CacheModel(s.NumBlocks, s.BlockSize, s.MaxSequenceLength, policy == AllocationPolicy.SeedCompatible);
        ModelChecks.Check(manager, model);

        for (int i = 0; i < s.Ops.Length; i++)
        {
            try
            {
                Step(manager, twin, model, s.Ops[i]);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"Step {i} ({s.Ops[i]}): {e.Message}", e);
            }
        }

        // Free whatever still runs: the pool returns to full (or, under the seed's policy, to the retired first blocks).
        foreach (int id in model.Running.ToArray())
        {
            manager.Free(id);
            twin.Free(id);
            model.Freed(id);
            ModelChecks.Check(manager, model);
        }
        Assert.Equal(0, manager.RunningCount);
        if (policy == AllocationPolicy.Default)
        {
            Assert.Equal(s.NumBlocks, manager.FreeBlocks);
            Assert.Equal(0, manager.FilledSlots);
            for (int b = 0; b < s.NumBlocks; b++) Assert.Equal(0, manager.Pool.RefCount(b));
        }
        else
        {
            int kept = model.Retired.Select(id => model.TableOf(id)[0]).Distinct().Count();
            Assert.Equal(s.NumBlocks - kept, manager.FreeBlocks);
        }
        Assert.Equal(ManagerSnapshot.Describe(manager, model.MaxIdSeen), ManagerSnapshot.Describe(twin, model.MaxIdSeen));
    }

    private static void Step(KvCacheManager manager, KvCacheManager twin, CacheModel model, Op op)
    {
        int id = model.Resolve(op);
        Expected expected = model.Predict(op, id);
        string before = ManagerSnapshot.Describe(manager, model.MaxIdSeen);

        Exception? error = null;
        (int newId, BlockCopy copy) result = default;
        try
        {
            result = Apply(manager, op, id);
        }
        catch (OutOfBlocksException e) { error = e; }
        catch (ArgumentException e) { error = e; }

        switch (expected.Kind)
        {
            case ExpectedKind.OutOfBlocks:
                var oob = Assert.IsType<OutOfBlocksException>(error);
                Assert.Equal((expected.Needed, expected.Free, model.NumBlocks), (oob.Needed, oob.Free, oob.Total));
                Assert.Equal(before, ManagerSnapshot.Describe(manager, model.MaxIdSeen));
                break;
            case ExpectedKind.Invalid:
                Assert.IsAssignableFrom<ArgumentException>(error);
                Assert.Equal(before, ManagerSnapshot.Describe(manager, model.MaxIdSeen));
                break;
            default:
                if (error is not null) throw new InvalidOperationException($"Expected success, got {error.GetType().Name}: {error.Message}");
                Assert.Equal(result, Apply(twin, op, id));
                Learn(manager, model, op, id, result);
                break;
        }

        ModelChecks.Check(manager, model);
        Assert.Equal(ManagerSnapshot.Describe(manager, model.MaxIdSeen), ManagerSnapshot.Describe(twin, model.MaxIdSeen));
    }

    private static (int NewId, BlockCopy Copy) Apply(KvCacheManager m, Op op, int id)
    {
        switch (op.Kind)
        {
            case OpKind.Admit: return (m.Admit(op.Count), BlockCopy.None);
            case OpKind.AppendOne: return (-1, m.Append(id));
            case OpKind.AppendMany: return (-1, m.Append(id, op.Count));
            case OpKind.Fork: return (m.Fork(id), BlockCopy.None);
            default: m.Free(id); return (-1, BlockCopy.None);
        }
    }

    private static void Learn(KvCacheManager m, CacheModel model, Op op, int id, (int NewId, BlockCopy Copy) result)
    {
        switch (op.Kind)
        {
            case OpKind.Admit: model.Admitted(result.NewId, op.Count, m.Table(result.NewId).Blocks); break;
            case OpKind.AppendOne: model.Appended(id, 1, result.Copy, m.Table(id).Blocks); break;
            case OpKind.AppendMany: model.Appended(id, op.Count, result.Copy, m.Table(id).Blocks); break;
            case OpKind.Fork: model.Forked(id, result.NewId); break;
            default: model.Freed(id); break;
        }
    }
}
