using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// <see cref="Llama3.ForwardGreedy"/> (greedy decoding's pass: the argmax taken by the kernel set, on the logits in the
/// model's dtype) must choose exactly the ids that <c>Forward(...).argmax(-1)</c> chooses, for a prompt pass and the
/// decode steps after it.
/// </summary>
public class ForwardGreedyTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 5)]
    [InlineData(5, 2)]
    public void Greedy_ids_are_the_argmax_of_the_logits(int batch, int promptLength)
    {
        Llama3 model = TinyLlama.Model("meta");
        using var scope = NewDisposeScope();
        using IKvCache cache = TinyLlama.PagedCache(model, blockSize: 4, maxSequenceLength: 64);
        var attention = new ReferenceAttention();
        var random = new Random(batch * 31 + promptLength);
        int[] sequences = [.. Enumerable.Range(0, batch).Select(_ => cache.Add(promptLength))];
        Tensor tokens = tensor(Enumerable.Range(0, batch * promptLength).Select(_ => (long)random.Next(model.Config.VocabSize)).ToArray(),
            [batch, promptLength]);
        KvStep step = cache.Prepare(sequences, promptLength, CPU);
        for (int s = 0; s < 4; s++)
        {
            // Both passes write the same K/V at the same slots.
            long[] expected = model.Forward(tokens, cache, step, attention).argmax(-1).data<long>().ToArray();
            Tensor ids = model.ForwardGreedy(tokens, cache, step, attention);
            Assert.Equal(ScalarType.Int64, ids.dtype);
            Assert.Equal(expected, ids.data<long>().ToArray());
            foreach (int q in sequences) cache.Append(q);
            step = cache.Prepare(sequences, 1, CPU);
            tokens = ids.view(batch, 1);
        }
    }
}
