using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

public class MaxBatchSearchTests
{
    [Fact]
    public void Bisection_agrees_with_a_linear_scan_for_every_threshold()
    {
        for (int limit = 0; limit <= 40; limit++)
            for (int threshold = 0; threshold <= limit; threshold++)
            {
                int calls = 0;
                int found = MaxBatchSearch.Find(n => { calls++; return n <= threshold; }, limit);
                Assert.Equal(threshold, found);
                Assert.True(calls <= 2 * Math.Log2(limit + 1) + 2, $"{calls} calls for limit {limit}");
            }
    }

    [Theory]
    [InlineData(3_000_000_000L, 256)]
    [InlineData(4_000_000_000L, 16)]
    [InlineData(2_000_000_000L, 64)]
    public void Simulated_max_batch_agrees_with_a_linear_scan(long kvBytes, int blockSize)
    {
        // A GPU leaving a few GB beside Llama 3.2 1B; the trace's first requests, default policy.
        var memory = new MemoryModel(ModelSpec.Llama32_1B, GpuSpec.OfSize(0, "test"), "bf16", 1, OverheadModel.Default);
        memory = memory with { Gpu = GpuSpec.OfSize(memory.WeightBytes + OverheadModel.DefaultFixedBytes + kvBytes, "test") };
        var config = new SimulationConfig(memory, blockSize);
        Trace trace = TestTraces.ShareGpt;
        foreach (bool paged in new[] { true, false })
        {
            int linear = 0;
            for (int n = 1; n <= 300; n++)
            {
                var requests = Simulator.FirstRequests(trace, n);
                bool fits = paged ? Simulator.RunPaged(config, requests).Fits : Simulator.RunNaive(config, requests).Fits;
                if (!fits) break;
                linear = n;
            }
            Assert.True(linear < 300);
            Assert.Equal(linear, MaxBatchSearch.Run(config, trace, paged).MaxBatch);
        }
    }
}
