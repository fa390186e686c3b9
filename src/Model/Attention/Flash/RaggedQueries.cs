using static TorchSharp.torch;

namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// Where each request's queries lie in a ragged attention call (prompts of several lengths in one call): request b's
/// are rows <c>Starts[b]</c> .. <c>Starts[b + 1]</c> − 1 of the query and the output.
/// </summary>
/// <param name="Starts">int32 [batch + 1] on the device, cumulative, from 0.</param>
/// <param name="MaxLength">The most queries of one request, on the host.</param>
public sealed record RaggedQueries(Tensor Starts, int MaxLength);
