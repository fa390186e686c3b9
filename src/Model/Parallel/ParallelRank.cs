using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Parallel;

/// <summary>
/// One rank's place in a tensor-parallel group: what its forward pass does differently from the unsharded one (the
/// vocabulary-parallel embedding lookup, an all-reduce after the row-parallel o and down projections, the gather of
/// the vocabulary-parallel logits). The layers themselves are the one forward pass of <see cref="Llama3"/>, run with
/// the rank's head counts (<see cref="ShardingPlan.Local"/>).
/// </summary>
/// <param name="Group">The group (plan, collective, the ranks' models and threads).</param>
/// <param name="Rank">This rank, 0 … N−1.</param>
public sealed record ParallelRank(TensorParallelGroup Group, int Rank)
{
    /// <summary>The plan.</summary>
    public ShardingPlan Plan => Group.Plan;

    /// <summary>
    /// Embedding rows of <paramref name="ids"/> from a vocabulary-parallel <paramref name="embedding"/> [V/N, dim]:
    /// each rank looks up the ids in its slice (zero rows elsewhere), and the all-reduce adds the ranks' rows. Exactly
    /// one rank contributes a non-zero row per id, so the sum is exact.
    /// </summary>
    public Tensor Embed(Tensor embedding, Tensor ids)
    {
        Tensor result;
        using (var scope = NewDisposeScope())
        {
            long start = Plan.VocabStart(Rank), rows = Plan.VocabPerRank;
            using Scalar first = start.ToScalar(), end = rows.ToScalar(), last = (rows - 1).ToScalar(); // held: see Scalars
            Tensor local = ids.reshape(-1).sub(first);
            Tensor mine = local.ge(Scalars.Zero).logical_and(local.lt(end));
            Tensor x = embedding.index_select(0, local.clamp(Scalars.Zero, last));
            x.mul_(mine.unsqueeze(1).to(x.dtype));
            result = x.contiguous().MoveToOuterDisposeScope();
        }
        AllReduce(result);
        return result;
    }

    /// <summary>Sums a row-parallel projection's partial output over the ranks, in place.</summary>
    public void AllReduce(Tensor partial) => Group.Collective.AllReduce(Rank, partial);

    /// <summary>Logits over the whole vocabulary [rows, V] from every rank's slice [rows, V/N] (exact: a gather).</summary>
    public Tensor GatherVocab(Tensor localLogits)
    {
        using var scope = NewDisposeScope();
        long rows = localLogits.shape[0];
        Tensor gathered = Group.Collective.AllGather(Rank, localLogits.contiguous()); // [N, rows, V/N]
        return gathered.permute(1, 0, 2).reshape(rows, Plan.Config.VocabSize).MoveToOuterDisposeScope();
    }
}
