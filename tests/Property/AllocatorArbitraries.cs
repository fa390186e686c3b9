using FsCheck;
using FsCheck.Fluent;

namespace PagedSim.Property.Tests;

/// <summary>
/// Generators and shrinkers for the property tests. Pools are small (0–16 blocks of 1–8 slots) so random runs
/// often exhaust them; a few steps carry invalid arguments or ids on purpose.
/// </summary>
public static class AllocatorArbitraries
{
    public static Arbitrary<Scenario> Scenario() => Arb.From(ScenarioGen(), ShrinkScenario);

    public static Arbitrary<NaiveScenario> NaiveScenario() => Arb.From(NaiveScenarioGen(), ShrinkNaive);

    private static Gen<Scenario> ScenarioGen() =>
        from blockSize in Gen.Frequency((1, Gen.Constant(1)), (5, Gen.Choose(2, 4)), (1, Gen.Choose(5, 8)))
        from numBlocks in Gen.Frequency((1, Gen.Choose(0, 2)), (6, Gen.Choose(3, 8)), (2, Gen.Choose(9, 16)))
        from maxLength in Gen.Frequency((1, Gen.Choose(1, 2 * blockSize)), (5, Gen.Choose(3 * blockSize, 16 * blockSize)))
        from seed in Gen.Choose(0, 1000)
        from ops in Gen.Sized(size => Gen.Choose(0, size).SelectMany(n => Gen.ArrayOf(OpGen(blockSize, maxLength), n)))
        select new Scenario(numBlocks, blockSize, maxLength, seed, ops);

    private static Gen<Op> OpGen(int blockSize, int maxLength)
    {
        Gen<int> target = Gen.Frequency((14, Gen.Choose(0, 7)), (1, Gen.Choose(-12, -1)));
        Gen<int> prompt = Gen.Frequency(
            (14, Gen.Choose(1, 3 * blockSize + 1)), (1, Gen.Choose(-2, 0)), (1, Gen.Choose(maxLength + 1, maxLength + 3)));
        Gen<int> many = Gen.Frequency(
            (14, Gen.Choose(1, 2 * blockSize + 1)), (1, Gen.Choose(-2, 0)), (1, Gen.Choose(maxLength, maxLength + 3)));
        return Gen.Frequency(
            (6, prompt.Select(c => new Op(OpKind.Admit, 0, c))),
            (8, target.Select(t => new Op(OpKind.AppendOne, t, 1))),
            (3, target.Zip(many, (t, c) => new Op(OpKind.AppendMany, t, c))),
            (2, target.Select(t => new Op(OpKind.Fork, t, 0))),
            (3, target.Select(t => new Op(OpKind.Free, t, 0))));
    }

    private static IEnumerable<Scenario> ShrinkScenario(Scenario s)
    {
        foreach (Op[] shorter in ShrinkList(s.Ops, ShrinkOp)) yield return s with { Ops = shorter };
        if (s.NumBlocks > 0) yield return s with { NumBlocks = s.NumBlocks - 1 };
        if (s.BlockSize > 1) yield return s with { BlockSize = s.BlockSize - 1 };
    }

    private static IEnumerable<Op> ShrinkOp(Op op)
    {
        if (op.Count > 1)
        {
            yield return op with { Count = 1 };
            if (op.Count / 2 > 1) yield return op with { Count = op.Count / 2 };
            if (op.Count - 1 > op.Count / 2) yield return op with { Count = op.Count - 1 };
        }
        if (op.Target < 0) yield return op with { Target = 0 }; // a raw id → the first running sequence
        if (op.Target > 0)
        {
            yield return op with { Target = 0 };
            if (op.Target > 1) yield return op with { Target = op.Target - 1 };
        }
        if (op.Kind == OpKind.AppendMany && op.Count == 1) yield return op with { Kind = OpKind.AppendOne };
    }

    private static Gen<NaiveScenario> NaiveScenarioGen() =>
        from length in Gen.Choose(1, 8)
        from capacity in Gen.Frequency((1, Gen.Choose(0, length)), (6, Gen.Choose(length, 6 * length + 3)))
        from ops in Gen.Sized(size => Gen.Choose(0, size).SelectMany(n => Gen.ArrayOf(NaiveOpGen(length), n)))
        select new NaiveScenario(capacity, length, ops);

    private static Gen<Op> NaiveOpGen(int length)
    {
        Gen<int> target = Gen.Frequency((14, Gen.Choose(0, 7)), (1, Gen.Choose(-12, -1)));
        Gen<int> prompt = Gen.Frequency((14, Gen.Choose(1, length)), (1, Gen.Choose(-1, 0)), (1, Gen.Choose(length + 1, length + 2)));
        return Gen.Frequency(
            (3, prompt.Select(c => new Op(OpKind.Admit, 0, c))),
            (6, target.Select(t => new Op(OpKind.AppendOne, t, 1))),
            (2, target.Select(t => new Op(OpKind.Free, t, 0))));
    }

    private static IEnumerable<NaiveScenario> ShrinkNaive(NaiveScenario s)
    {
        foreach (Op[] shorter in ShrinkList(s.Ops, ShrinkOp)) yield return s with { Ops = shorter };
        if (s.CapacitySlots > 0) yield return s with { CapacitySlots = s.CapacitySlots - 1 };
    }

    /// <summary>
    /// Shorter lists first (drop halves, quarters, ... at aligned places; then any run of up to 3 steps anywhere),
    /// then lists with one step simplified. Greedy shrinking stops where no candidate fails any more, so the result
    /// is minimal in that no single step can be removed or simplified.
    /// </summary>
    private static IEnumerable<Op[]> ShrinkList(Op[] ops, Func<Op, IEnumerable<Op>> shrinkOne)
    {
        for (int chunk = ops.Length; chunk >= 4; chunk /= 2)
            for (int start = 0; start + chunk <= ops.Length; start += chunk)
                yield return [.. ops[..start], .. ops[(start + chunk)..]];
        for (int chunk = Math.Min(3, ops.Length); chunk >= 1; chunk--)
            for (int start = 0; start + chunk <= ops.Length; start++)
                yield return [.. ops[..start], .. ops[(start + chunk)..]];
        for (int i = 0; i < ops.Length; i++)
            foreach (Op simpler in shrinkOne(ops[i]))
            {
                Op[] copy = (Op[])ops.Clone();
                copy[i] = simpler;
                yield return copy;
            }
    }
}
