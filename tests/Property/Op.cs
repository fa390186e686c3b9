namespace PagedSim.Property.Tests;

/// <summary>
/// One generated step, kept as plain data so FsCheck can shrink a list of them.
/// <see cref="Target"/> ≥ 0 picks a running sequence by position (modulo how many run) so removing earlier steps
/// keeps the rest meaningful; a negative target names a raw id <c>-Target - 2</c> (-1, or an id that may be freed,
/// retired or never admitted). <see cref="Count"/> is the prompt length (Admit) or tokens to append (AppendMany).
/// </summary>
public sealed record Op(OpKind Kind, int Target, int Count)
{
    public override string ToString() => Kind switch
    {
        OpKind.Admit => $"Admit({Count})",
        OpKind.AppendOne => $"AppendOne({TargetText})",
        OpKind.AppendMany => $"AppendMany({TargetText}, {Count})",
        _ => $"{Kind}({TargetText})",
    };

    private string TargetText => Target >= 0 ? $"#{Target}" : $"id {-Target - 2}";
}
