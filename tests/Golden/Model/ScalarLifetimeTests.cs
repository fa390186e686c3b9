using PagedSim.Model;
using PagedSim.Model.Attention;
using PagedSim.Model.Generation;
using PagedSim.Model.Kernels;
using PagedSim.Model.KvCache;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Model;

/// <summary>
/// The model's scalar arguments under collections on another thread. TorchSharp's own temporaries (an implicit
/// Scalar, add's alpha of 1) can be freed mid-call when a collection runs then; the model passes only Scalars it
/// holds (<see cref="Scalars"/>), so the same inputs give the same outputs, without an error, however often the
/// collector runs. A stress test: with temporaries, runs like these failed now and then ("Unknown scalar type"). It
/// runs alone: its collections would expose the temporaries of tests running beside it.
/// </summary>
[Collection(RunsAloneCollection.Name)]
public sealed class ScalarLifetimeTests
{
    [Fact]
    public void ReferenceAttentionNormAndSamplerAreStableUnderCollections()
    {
        using var scope = NewDisposeScope();
        var random = new Generator(7);
        int batch = 3, qLen = 2, heads = 4, kvHeads = 2, headDim = 8, blockSize = 4, blocks = 12;
        int[] lengths = [5, 9, 2];
        Tensor query = randn([batch, qLen, heads, headDim], generator: random);
        Tensor keys = randn([blocks, blockSize, kvHeads, headDim], generator: random);
        Tensor values = randn([blocks, blockSize, kvHeads, headDim], generator: random);
        Tensor table = tensor(new[] { 0, 1, -1, 2, 3, 4, 5, -1, -1 }, [batch, 3], ScalarType.Int32);
        var inputs = new AttentionInputs(query, keys, values, KvCacheKind.Paged, table, tensor(lengths, ScalarType.Int32),
            lengths.Max(), Causal: true, 1 / Math.Sqrt(headDim));
        Tensor residual = randn([5, 16], generator: random), delta = randn([5, 16], generator: random), weight = randn([16], generator: random);
        Tensor logits = randn([4, 50], generator: random);
        double[] uniforms = [0.1, 0.5, 0.9, 0.99];
        var sampling = new SamplingOptions(0.8, 0.9, Seed: 1);

        (Tensor Attention, Tensor Norm, Tensor Ids) Once()
        {
            Tensor attention = empty_like(query), norm = empty_like(residual), sum = residual.clone();
            new ReferenceAttention().Forward(inputs, attention);
            EagerKernels.Instance.AddRmsNorm(sum, delta, weight, 1e-5, norm);
            return (attention, norm, DeviceSampler.Sample(logits, sampling, uniforms));
        }

        var expected = Once();
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(0);
                using Scalar reuse = 2.5.ToScalar(); // native scalars allocated while others may be freed
                Thread.Sleep(1);
            }
        });
        collector.Start();
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int runs = 0;
            while (clock.Elapsed < TimeSpan.FromSeconds(3) || runs < 20)
            {
                using var run = NewDisposeScope();
                var actual = Once();
                Assert.True(actual.Attention.allclose(expected.Attention, rtol: 0, atol: 0), $"attention differs at run {runs}");
                Assert.True(actual.Norm.allclose(expected.Norm, rtol: 0, atol: 0), $"norm differs at run {runs}");
                Assert.True(actual.Ids.eq(expected.Ids).all().item<bool>(), $"sampled ids differ at run {runs}");
                runs++;
            }
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }
}
