using PagedSim.Allocator.Simulation;

namespace PagedSim.Model.ShareGpt;

/// <summary>A multi-turn trace built from ShareGPT conversations.</summary>
/// <param name="Trace">One request per answered user turn, with prompt ids, conversation and turn.</param>
/// <param name="Conversations">Conversations read.</param>
/// <param name="DroppedTurns">Turns left out because they (and so every later turn) exceed the max sequence length.</param>
/// <param name="UnansweredTurns">Trailing user messages without a recorded answer, left out.</param>
public sealed record MultiTurnTrace(Trace Trace, int Conversations, int DroppedTurns, int UnansweredTurns);
