using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// The communication tensor parallelism needs between its ranks, called by every rank of the group in the same order
/// (each call blocks, or queues on the device, until all ranks have made it). <see cref="NcclCollective"/> runs it on
/// GPUs through NCCL; <see cref="InProcessCollective"/> stands in for it with ranks as threads (CPU tests).
/// </summary>
public interface ICollective : IDisposable
{
    /// <summary>Ranks in the group.</summary>
    int Size { get; }

    /// <summary>A short name for logs ("nccl", "in-process").</summary>
    string Name { get; }

    /// <summary>Sums <paramref name="buffer"/> (contiguous, on rank <paramref name="rank"/>'s device) over all ranks, in place.</summary>
    void AllReduce(int rank, Tensor buffer);

    /// <summary>Every rank's <paramref name="local"/> (same shape and dtype on all ranks), stacked: [<see cref="Size"/>, ...local.shape], rank order.</summary>
    Tensor AllGather(int rank, Tensor local);

    /// <summary>A rank failed: releases the others from any call they wait in (they throw); the group is unusable after.</summary>
    void Abort();
}
