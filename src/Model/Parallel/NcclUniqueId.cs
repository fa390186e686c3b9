using System.Runtime.CompilerServices;

namespace PagedSim.Model.Parallel;

/// <summary>
/// <c>ncclUniqueId</c>: 128 opaque bytes made by one rank (<see cref="NcclCollective.NewUniqueId"/>) and handed to every
/// rank of a communicator before it joins (<see cref="NcclCollective.ForRank"/>).
/// </summary>
[InlineArray(128)]
public struct NcclUniqueId
{
    private byte _first;
}
