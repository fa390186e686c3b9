namespace PagedSim.Property.Tests;

/// <summary>
/// A naive allocator's size and the steps to replay: <see cref="OpKind.Admit"/> reserves (Count = prompt tokens),
/// <see cref="OpKind.AppendOne"/> records a token, <see cref="OpKind.Free"/> returns a range.
/// </summary>
public sealed record NaiveScenario(long CapacitySlots, int ReservationLength, Op[] Ops)
{
    public override string ToString() =>
        $"NaiveScenario(capacity {CapacitySlots}, reservation {ReservationLength}): [{string.Join(", ", Ops.Select(o => o.ToString()))}]";
}
