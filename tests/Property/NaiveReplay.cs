using PagedSim.Allocator;

namespace PagedSim.Property.Tests;

/// <summary>
/// Replays a <see cref="NaiveScenario"/> against a model of live ranges (id → offset, filled) kept in a plain
/// dictionary. The model finds the first gap, in address order, long enough for a reservation, independently of
/// the allocator's free list.
/// </summary>
internal static class NaiveReplay
{
    public static void Run(NaiveScenario s)
    {
        var naive = new NaiveAllocator(s.CapacitySlots, s.ReservationLength);
        var live = new Dictionary<int, (long Offset, int Filled)>();
        var order = new List<int>();
        int maxId = -1;
        Check(naive, live, s);

        for (int i = 0; i < s.Ops.Length; i++)
        {
            Op op = s.Ops[i];
            int id = op.Target < 0 ? -op.Target - 2 : order.Count > 0 ? order[op.Target % order.Count] : op.Target;
            string before = Describe(naive);
            try
            {
                switch (op.Kind)
                {
                    case OpKind.Admit:
                        long? gap = FirstGap(live, s);
                        if (op.Count <= 0 || op.Count > s.ReservationLength)
                        {
                            Assert.ThrowsAny<ArgumentException>(() => naive.Reserve(op.Count));
                            Assert.Equal(before, Describe(naive));
                        }
                        else if (gap is null)
                        {
                            var e = Assert.Throws<OutOfBlocksException>(() => naive.Reserve(op.Count));
                            Assert.Equal((1, 0), (e.Needed, e.Free));
                            Assert.Equal(before, Describe(naive));
                        }
                        else
                        {
                            int newId = naive.Reserve(op.Count);
                            Assert.False(live.ContainsKey(newId) || newId <= maxId, $"Reserve returned id {newId} again.");
                            Assert.Equal(gap.Value, naive.Get(newId).Offset);
                            live[newId] = (gap.Value, op.Count);
                            order.Add(newId);
                            maxId = newId;
                        }
                        break;
                    case OpKind.AppendOne:
                        if (!live.TryGetValue(id, out var r) || r.Filled == s.ReservationLength)
                        {
                            Assert.ThrowsAny<ArgumentException>(() => naive.Append(id));
                            Assert.Equal(before, Describe(naive));
                        }
                        else
                        {
                            naive.Append(id);
                            live[id] = (r.Offset, r.Filled + 1);
                        }
                        break;
                    default:
                        if (!live.ContainsKey(id))
                        {
                            Assert.ThrowsAny<ArgumentException>(() => naive.Free(id));
                            Assert.Equal(before, Describe(naive));
                        }
                        else
                        {
                            naive.Free(id);
                            live.Remove(id);
                            order.Remove(id);
                        }
                        break;
                }
                Check(naive, live, s);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"Step {i} ({op}): {e.Message}", e);
            }
        }

        // Freeing everything coalesces the free list back into one range: capacity / length reservations fit again.
        foreach (int id in order) naive.Free(id);
        live.Clear();
        Check(naive, live, s);
        long fits = s.CapacitySlots / s.ReservationLength;
        for (long k = 0; k < fits; k++) naive.Reserve(1);
        Assert.False(naive.CanReserve());
    }

    private static void Check(NaiveAllocator naive, Dictionary<int, (long Offset, int Filled)> live, NaiveScenario s)
    {
        NaiveReservation[] all = naive.Reservations.OrderBy(r => r.Offset).ToArray();
        Assert.Equal(live.Count, naive.Count);
        Assert.Equal(live.Count, all.Length);
        for (int i = 0; i < all.Length; i++)
        {
            NaiveReservation r = all[i];
            Assert.True(live.TryGetValue(r.Id, out var expected), $"Reservation {r.Id} should not exist.");
            Assert.Equal((expected.Offset, expected.Filled, s.ReservationLength), (r.Offset, r.Filled, r.Length));
            Assert.Equal(r, naive.Get(r.Id));
            Assert.True(r.Offset >= 0 && r.End <= s.CapacitySlots, $"Reservation {r.Id} [{r.Offset}, {r.End}) lies outside the capacity.");
            if (i > 0) Assert.True(all[i - 1].End <= r.Offset, $"Reservations {all[i - 1].Id} and {r.Id} overlap.");
        }
        Assert.Equal((long)live.Count * s.ReservationLength, naive.ReservedSlots);
        Assert.Equal(live.Values.Sum(v => (long)v.Filled), naive.FilledSlots);
        Assert.Equal(FirstGap(live, s) is not null, naive.CanReserve());
    }

    /// <summary>Start of the lowest free gap that can take a reservation, or null.</summary>
    private static long? FirstGap(Dictionary<int, (long Offset, int Filled)> live, NaiveScenario s)
    {
        long cursor = 0;
        foreach (long offset in live.Values.Select(v => v.Offset).Order())
        {
            if (offset - cursor >= s.ReservationLength) return cursor;
            cursor = offset + s.ReservationLength;
        }
        return s.CapacitySlots - cursor >= s.ReservationLength ? cursor : null;
    }

    private static string Describe(NaiveAllocator naive) =>
        $"{naive.Count} {naive.ReservedSlots} {naive.FilledSlots} {naive.CanReserve()} "
        + string.Join(' ', naive.Reservations.OrderBy(r => r.Id));
}
