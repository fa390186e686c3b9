namespace PagedSim.Property.Tests;

/// <summary>
/// A random run for prefix caching: a small pool, a few base token sequences over a tiny alphabet (so prompts share
/// prefixes, and different prefixes share blocks' contents), and steps. An admit takes the first
/// <see cref="PrefixOp.IdsLength"/> ids of base <see cref="PrefixOp.Base"/> plus <see cref="PrefixOp.Extra"/> tokens of
/// unknown ids (as a recomputed request's generated tokens).
/// </summary>
public sealed record PrefixScenario(int NumBlocks, int BlockSize, int MaxSequenceLength, int[][] Bases, PrefixOp[] Ops)
{
    public override string ToString() =>
        $"{NumBlocks} blocks of {BlockSize}, max {MaxSequenceLength}; bases [{string.Join("; ", Bases.Select(b => string.Join(",", b)))}]; ops {string.Join(", ", Ops.Select(o => o.ToString()))}";
}

/// <summary>One step of a <see cref="PrefixScenario"/>; <see cref="Target"/> picks a running sequence modulo how many run.</summary>
public sealed record PrefixOp(OpKind Kind, int Target, int Base, int IdsLength, int Extra, int Count)
{
    public override string ToString() => Kind switch
    {
        OpKind.Admit => $"Admit(base {Base}, {IdsLength} ids + {Extra})",
        OpKind.AppendMany => $"Append(#{Target}, {Count})",
        _ => $"{Kind}(#{Target})",
    };
}
