using static TorchSharp.torch;

namespace PagedSim.Model.Kernels;

/// <summary>
/// Views of <see cref="DecodeGraphs"/>' buffers for one decode pass: the embeddings in and the final norm out
/// [batch, dim], positions and slots int64 [batch], sequence lengths int32 [batch], block table int32 [batch, columns].
/// </summary>
internal readonly record struct DecodeStepViews(Tensor Residual, Tensor Normed, Tensor Positions, Tensor Slots, Tensor SequenceLengths, Tensor BlockTable);
