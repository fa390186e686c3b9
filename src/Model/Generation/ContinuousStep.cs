using PagedSim.Allocator;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Generation;

/// <summary>
/// Builds the <see cref="KvStep"/> of one forward pass of the continuous loop from the manager's block tables.
/// </summary>
/// <remarks>
/// The <see cref="Allocator.Scheduling.Scheduler"/> counts, after a step, the token that step produces (as the
/// simulator does): a sequence the manager says holds <c>n</c> tokens has K/V for <c>n − 1</c> of them once the step's
/// forward pass has run, and its last slot is reserved for the token the next pass feeds. So the pass writes the
/// <c>newTokens</c> positions ending at <c>n − 2</c> and attends over <c>n − 1</c> keys.
/// </remarks>
internal static class ContinuousStep
{
    public static KvStep Prepare(KvCacheManager manager, ReadOnlySpan<int> sequences, int newTokens, Device device)
    {
        int batch = sequences.Length, bs = manager.BlockSize, width = manager.MaxBlocksPerSequence;
        ReadOnlySpan<int> dense = manager.DenseBlockTable, lengths = manager.DenseSequenceLengths;
        var seqLens = new int[batch];
        int maxLength = 0;
        for (int b = 0; b < batch; b++)
        {
            int written = lengths[manager.RowOf(sequences[b])] - 1;
            if (written < newTokens) throw new InvalidOperationException($"Sequence {sequences[b]} holds {written} written token(s); cannot feed {newTokens}.");
            seqLens[b] = written;
            maxLength = Math.Max(maxLength, written);
        }
        int used = (maxLength + bs - 1) / bs; // the table is trimmed to the blocks this batch can reach
        var table = new int[batch * used];
        var slots = new long[batch * newTokens];
        var positions = new long[batch * newTokens];
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<int> blocks = dense.Slice(manager.RowOf(sequences[b]) * width, width);
            blocks[..used].CopyTo(table.AsSpan(b * used, used));
            for (int t = 0; t < newTokens; t++)
            {
                int pos = seqLens[b] - newTokens + t;
                positions[b * newTokens + t] = pos;
                slots[b * newTokens + t] = (long)blocks[pos / bs] * bs + pos % bs;
            }
        }
        return new KvStep(batch, newTokens,
            tensor(positions, [batch, newTokens]).to(device),
            tensor(slots).to(device),
            tensor(table, [batch, used]).to(device),
            tensor(seqLens).to(device),
            maxLength);
    }
}
