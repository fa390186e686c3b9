using FsCheck;
using FsCheck.Fluent;
using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>
/// The generators shrink a failing run to a minimal step list. Checked on a claim that is false on purpose —
/// "no append ever needs a copy-on-write" — whose smallest counterexample is known by hand: admit a sequence with a
/// partial block, fork it, append.
/// </summary>
public class ShrinkingTests
{
    [Fact]
    public void FailingRunShrinksToMinimalSteps()
    {
        Scenario? lastFailing = null;
        Arbitrary<Scenario> arb = AllocatorArbitraries.Scenario();
        FsCheck.Property claim = Prop.ForAll(arb, (Scenario s) =>
        {
            bool copied = NeedsCopy(s);
            if (copied) lastFailing = s; // FsCheck shrinks greedily: the last failing run is the final one
            return !copied;
        });

        Assert.ThrowsAny<Exception>(() => { Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), claim); });

        // Minimal: no single step can be dropped, and the shape is the hand-derived one: admit, fork, append,
        // with at most a step or two that put the last block into a partial state (e.g. [Admit(2), AppendOne,
        // Fork, AppendOne] with block size 2, which no single removal or simplification can shorten).
        Assert.NotNull(lastFailing);
        Op[] ops = lastFailing.Ops;
        for (int i = 0; i < ops.Length; i++)
            Assert.False(NeedsCopy(lastFailing with { Ops = [.. ops[..i], .. ops[(i + 1)..]] }), $"Step {i} of {lastFailing} is not needed.");
        Assert.InRange(ops.Length, 3, 5);
        Assert.Equal(OpKind.Admit, ops[0].Kind);
        Assert.Equal(1, ops.Count(o => o.Kind == OpKind.Fork));
        Assert.Equal(new Op(OpKind.AppendOne, 0, 1), ops[^1]);
        Assert.InRange(lastFailing.BlockSize, 2, 3);
    }

    [Fact]
    public void FailingRunShrinksToThreeStepsFromAFixedSeed()
    {
        // With a fixed replay seed the run is repeatable; the result is the smallest counterexample there is.
        Scenario? lastFailing = null;
        FsCheck.Property claim = Prop.ForAll(AllocatorArbitraries.Scenario(), (Scenario s) =>
        {
            bool copied = NeedsCopy(s);
            if (copied) lastFailing = s;
            return !copied;
        });
        Config config = Config.QuickThrowOnFailure.WithMaxTest(2000).WithReplay(new Replay(new Rnd(12345UL, 67891UL), null));
        Assert.ThrowsAny<Exception>(() => { Check.One(config, claim); });
        Assert.NotNull(lastFailing);
        Assert.Equal([new Op(OpKind.Admit, 0, 1), new Op(OpKind.Fork, 0, 0), new Op(OpKind.AppendOne, 0, 1)], lastFailing.Ops);
    }

    private static bool NeedsCopy(Scenario s)
    {
        var m = new KvCacheManager(new KvCacheOptions(s.NumBlocks, s.BlockSize, s.MaxSequenceLength));
        var running = new List<int>();
        foreach (Op op in s.Ops)
        {
            int id = op.Target < 0 ? -op.Target - 2 : running.Count > 0 ? running[op.Target % running.Count] : op.Target;
            try
            {
                switch (op.Kind)
                {
                    case OpKind.Admit: running.Add(m.Admit(op.Count)); break;
                    case OpKind.AppendOne: if (m.Append(id).IsNeeded) return true; break;
                    case OpKind.AppendMany: if (m.Append(id, op.Count).IsNeeded) return true; break;
                    case OpKind.Fork: running.Add(m.Fork(id)); break;
                    default: m.Free(id); running.Remove(id); break;
                }
            }
            catch (InvalidOperationException) { } // out of blocks
            catch (ArgumentException) { }
        }
        return false;
    }
}
