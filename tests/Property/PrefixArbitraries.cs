using FsCheck;
using FsCheck.Fluent;

namespace PagedSim.Property.Tests;

/// <summary>Generator and shrinker of <see cref="PrefixScenario"/>s: pools of 0–24 blocks of 1–4 slots, tokens from
/// an alphabet of 3, so hits, shared blocks, evictions and preemption-like recomputes are all common.</summary>
public static class PrefixArbitraries
{
    public static Arbitrary<PrefixScenario> Scenario() => Arb.From(ScenarioGen(), Shrink);

    private static Gen<PrefixScenario> ScenarioGen() =>
        from blockSize in Gen.Frequency((1, Gen.Constant(1)), (5, Gen.Choose(2, 4)))
        from numBlocks in Gen.Frequency((1, Gen.Choose(0, 3)), (6, Gen.Choose(4, 12)), (2, Gen.Choose(13, 24)))
        from maxLength in Gen.Choose(2 * blockSize, 10 * blockSize)
        from bases in Gen.ArrayOf(Gen.ArrayOf(Gen.Choose(0, 2), maxLength), 3)
        from ops in Gen.Sized(size => Gen.Choose(0, size).SelectMany(n => Gen.ArrayOf(OpGen(blockSize, maxLength), n)))
        select new PrefixScenario(numBlocks, blockSize, maxLength, bases, ops);

    private static Gen<PrefixOp> OpGen(int blockSize, int maxLength)
    {
        Gen<int> target = Gen.Choose(0, 7);
        Gen<PrefixOp> admit =
            from b in Gen.Choose(0, 2)
            from ids in Gen.Frequency((1, Gen.Constant(0)), (8, Gen.Choose(1, maxLength)))
            from extra in Gen.Frequency((4, Gen.Constant(0)), (1, Gen.Choose(1, 2 * blockSize)))
            select new PrefixOp(OpKind.Admit, 0, b, ids, ids == 0 ? Math.Max(extra, 1) : extra, 0);
        return Gen.Frequency(
            (6, admit),
            (5, target.Select(t => new PrefixOp(OpKind.AppendOne, t, 0, 0, 0, 1))),
            (2, target.Zip(Gen.Choose(1, 2 * blockSize + 1), (t, c) => new PrefixOp(OpKind.AppendMany, t, 0, 0, 0, c))),
            (2, target.Select(t => new PrefixOp(OpKind.Fork, t, 0, 0, 0, 0))),
            (4, target.Select(t => new PrefixOp(OpKind.Free, t, 0, 0, 0, 0))));
    }

    private static IEnumerable<PrefixScenario> Shrink(PrefixScenario s)
    {
        for (int i = s.Ops.Length - 1; i >= 0; i--) yield return s with { Ops = [.. s.Ops[..i], .. s.Ops[(i + 1)..]] };
        if (s.NumBlocks > 0) yield return s with { NumBlocks = s.NumBlocks - 1 };
    }
}
