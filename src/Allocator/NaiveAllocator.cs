namespace PagedSim.Allocator;

/// <summary>
/// The conventional cache the paged one is compared with: each request reserves one contiguous range of
/// max-sequence-length token slots up front (llama3-naive.py), whatever it will actually use. First fit over a
/// sorted free list; adjacent free ranges coalesce.
/// </summary>
public sealed class NaiveAllocator
{
    private readonly List<(long Offset, long Length)> _freeRanges = []; // sorted by offset, never adjacent
    private readonly Dictionary<int, NaiveReservation> _live = [];
    private int _nextId;
    private long _reserved;
    private long _filled;

    /// <summary>Creates an allocator over <paramref name="capacitySlots"/> token slots.</summary>
    /// <param name="capacitySlots">Token slots of KV memory in all.</param>
    /// <param name="reservationLength">Slots each request reserves (the max sequence length).</param>
    public NaiveAllocator(long capacitySlots, int reservationLength)
    {
        if (capacitySlots < 0) throw new ArgumentOutOfRangeException(nameof(capacitySlots), capacitySlots, "Capacity must not be negative.");
        if (reservationLength <= 0) throw new ArgumentOutOfRangeException(nameof(reservationLength), reservationLength, "Reservation length must be positive.");
        CapacitySlots = capacitySlots;
        ReservationLength = reservationLength;
        if (capacitySlots > 0) _freeRanges.Add((0, capacitySlots));
    }

    /// <summary>Token slots in all.</summary>
    public long CapacitySlots { get; }

    /// <summary>Slots each request reserves.</summary>
    public int ReservationLength { get; }

    /// <summary>Slots reserved by live requests.</summary>
    public long ReservedSlots => _reserved;

    /// <summary>Reserved slots holding a token.</summary>
    public long FilledSlots => _filled;

    /// <summary>Live reservations.</summary>
    public int Count => _live.Count;

    /// <summary>Live reservations, in no particular order.</summary>
    public IEnumerable<NaiveReservation> Reservations => _live.Values;

    /// <summary>Whether another request can reserve its range.</summary>
    public bool CanReserve() => FindFit() >= 0;

    /// <summary>Reserves a contiguous range for a request whose prompt holds <paramref name="promptTokens"/> tokens.</summary>
    /// <exception cref="OutOfBlocksException">No free range is long enough (Needed/Free are in reservations).</exception>
    public int Reserve(int promptTokens)
    {
        if (promptTokens <= 0) throw new ArgumentOutOfRangeException(nameof(promptTokens), promptTokens, "Prompt length must be positive.");
        if (promptTokens > ReservationLength)
            throw new ArgumentOutOfRangeException(nameof(promptTokens), promptTokens, $"A request may hold at most {ReservationLength} tokens.");
        int fit = FindFit();
        if (fit < 0) throw new OutOfBlocksException(1, 0, (int)Math.Min(int.MaxValue, CapacitySlots / ReservationLength));
        (long offset, long length) = _freeRanges[fit];
        if (length == ReservationLength) _freeRanges.RemoveAt(fit);
        else _freeRanges[fit] = (offset + ReservationLength, length - ReservationLength);
        int id = _nextId++;
        _live[id] = new NaiveReservation(id, offset, ReservationLength, promptTokens);
        _reserved += ReservationLength;
        _filled += promptTokens;
        return id;
    }

    /// <summary>Records one more token in a reservation.</summary>
    public void Append(int id)
    {
        NaiveReservation r = Get(id);
        if (r.Filled == r.Length) throw new ArgumentOutOfRangeException(nameof(id), id, $"Reservation {id} is full ({r.Length} tokens).");
        _live[id] = r with { Filled = r.Filled + 1 };
        _filled++;
    }

    /// <summary>The reservation with this id.</summary>
    public NaiveReservation Get(int id) =>
        _live.TryGetValue(id, out NaiveReservation r)
            ? r
            : throw new ArgumentException($"Unknown reservation {id}: it was never made or has been freed.", nameof(id));

    /// <summary>Returns a request's range; neighbouring free ranges merge.</summary>
    public void Free(int id)
    {
        NaiveReservation r = Get(id);
        _live.Remove(id);
        _reserved -= r.Length;
        _filled -= r.Filled;
        int i = 0;
        while (i < _freeRanges.Count && _freeRanges[i].Offset < r.Offset) i++;
        long start = r.Offset, end = r.End;
        if (i < _freeRanges.Count && _freeRanges[i].Offset == end)
        {
            end += _freeRanges[i].Length;
            _freeRanges.RemoveAt(i);
        }
        if (i > 0 && _freeRanges[i - 1].Offset + _freeRanges[i - 1].Length == start)
        {
            start = _freeRanges[i - 1].Offset;
            _freeRanges.RemoveAt(--i);
        }
        _freeRanges.Insert(i, (start, end - start));
    }

    private int FindFit()
    {
        for (int i = 0; i < _freeRanges.Count; i++)
            if (_freeRanges[i].Length >= ReservationLength) return i;
        return -1;
    }
}
