using FsCheck.Xunit;

namespace PagedSim.Property.Tests;

/// <summary>Random reserve / append / free runs on the naive allocator, checked after every step.</summary>
public class NaiveAllocatorProperties
{
    [Property(MaxTest = 1500, Arbitrary = [typeof(AllocatorArbitraries)])]
    public void ReservationsNeverOverlapAndAccountingAddsUp(NaiveScenario scenario) => NaiveReplay.Run(scenario);
}
