namespace PagedSim.Allocator;

/// <summary>A contiguous range of token slots reserved for one request by <see cref="NaiveAllocator"/>.</summary>
/// <param name="Id">The reservation's id.</param>
/// <param name="Offset">First slot.</param>
/// <param name="Length">Slots reserved (the max sequence length, as llama3-naive.py does).</param>
/// <param name="Filled">Slots holding a token.</param>
public readonly record struct NaiveReservation(int Id, long Offset, int Length, int Filled)
{
    /// <summary>One past the last slot.</summary>
    public long End => Offset + Length;
}
