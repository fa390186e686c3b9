using PagedSim.Allocator;
using PagedSim.Allocator.Scheduling;
using PagedSim.Allocator.Simulation;

namespace PagedSim.Golden.Tests.Simulation;

/// <summary>
/// The time model's arithmetic on hand-counted cases, its closed-form sums against step-by-step sums, monotonicity,
/// and the event-driven simulator's time against a step-by-step replay of the same scheduler.
/// </summary>
public class TimeModelTests
{
    // Llama 3 8B, counted by hand from its published shape (dim 4096, 32 layers, 32 query / 8 KV heads of 128,
    // SwiGLU 14,336, vocabulary 128,256, untied; 8,030,261,248 parameters).
    private const long Parameters8B = 8_030_261_248;
    private const long Embedding8B = 128_256L * 4096;                                   // 525,336,576
    private const long LayerWeights8B = 32L * (4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096 + 3 * 4096 * 14_336 + 2 * 4096);
    private const long KvBytesPerToken8B = 2L * 32 * 8 * 128 * 2;                       // 131,072

    private static StepTimeParameters Rates(double bandwidth = 1e12, double flops = 1e30, double pass = 0, double perSequence = 0,
        double shape = 0, double link = 1e11) =>
        new(bandwidth, flops, pass, perSequence, shape, link, 5e-6, 1, 1, "test");

    private static MemoryModel Memory(int tp = 1, GpuSpec? gpu = null) =>
        new(ModelSpec.Llama3_8B, gpu ?? GpuSpec.H200, "bf16", tp, OverheadModel.Default);

    [Fact]
    public void A_bandwidth_bound_decode_pass_takes_its_bytes_over_the_bandwidth()
    {
        // Every weight but the input embedding, plus 513 keys of context read and one written: 1 TB/s.
        var model = new StepTimeModel(Memory(), Rates(bandwidth: 1e12));
        long bytes = (Parameters8B - Embedding8B) * 2 + (513 + 1) * KvBytesPerToken8B;
        Assert.Equal(15_077_220_352, bytes);
        Assert.Equal(bytes / 1e12, model.Seconds(ForwardPass.Decode(1, 513)), 12);
    }

    [Fact]
    public void A_compute_bound_prefill_takes_its_flops_over_the_rate()
    {
        // One prompt of 1,000 tokens: 2 FLOPs per layer weight per token, the output head once, and 4 × 4,096 per
        // attended key per layer over the causal triangle (1 + 2 + … + 1,000 keys).
        var model = new StepTimeModel(Memory(), Rates(bandwidth: 1e30, flops: 1e15));
        double flops = 2.0 * LayerWeights8B * 1000 + 2.0 * Embedding8B + 4.0 * 32 * 4096 * (1000 * 1001 / 2);
        Assert.Equal(flops / 1e15, model.Seconds(ForwardPass.Prefill(1, 0, 1000)), 12);
    }

    [Fact]
    public void Fixed_and_per_sequence_costs_add_to_the_larger_side()
    {
        var rates = Rates(bandwidth: 2e12, flops: 4e14, pass: 3e-4, perSequence: 1e-5);
        var model = new StepTimeModel(Memory(), rates);
        var pass = ForwardPass.Decode(64, 64 * 700);
        double memory = model.Bytes(pass) / 2e12 + 64 * 1e-5, compute = model.Flops(pass) / 4e14;
        Assert.Equal(Math.Max(memory, compute) + 3e-4, model.Seconds(pass), 12);
    }

    [Fact]
    public void A_prefix_hit_reads_cached_keys_but_does_not_compute_them()
    {
        var model = new StepTimeModel(Memory(), Rates());
        ForwardPass cold = ForwardPass.Prefill(1, 0, 600), warm = ForwardPass.Prefill(1, 400, 200);
        Assert.Equal(600, warm.KeysRead);
        Assert.Equal(200, warm.Tokens);
        Assert.Equal(200.0 * 400 + 200 * 201 / 2, warm.KeysAttended);
        Assert.True(model.Flops(warm) < model.Flops(cold));
    }

    [Fact]
    public void Tensor_parallel_adds_two_ring_all_reduces_per_layer()
    {
        // tp 2: each layer all-reduces 2 × 4,096 bf16 values per token; a ring of 2 moves 2·(2−1)/2 = 1× of them
        // over the link in 2·(2−1) = 2 hops per all-reduce.
        var model = new StepTimeModel(Memory(tp: 2), Rates(link: 1e11));
        long tokens = 49;
        double expected = 2 * 32 * 2 * 5e-6 + 1.0 * 2 * 32 * 4096 * 2 * tokens / 1e11;
        Assert.Equal(expected, model.AllReduceSeconds(tokens), 15);
        var single = new StepTimeModel(Memory(tp: 1), Rates(link: 1e11));
        Assert.Equal(0, single.AllReduceSeconds(tokens));
    }

    [Theory]
    [InlineData(1e12, 1e30)]     // memory-bound throughout
    [InlineData(1e30, 1e14)]     // compute-bound throughout
    [InlineData(3e12, 2.2e14)]   // compute ahead at first, memory overtakes as the context grows
    [InlineData(3e12, 5e15)]
    public void A_decode_span_in_closed_form_equals_the_sum_of_its_steps(double bandwidth, double flops)
    {
        var model = new StepTimeModel(Memory(), Rates(bandwidth, flops, pass: 2e-4, perSequence: 7e-6));
        const long sequences = 200, first = 200 * 300, steps = 5000;
        double sum = 0;
        for (long j = 0; j < steps; j++) sum += model.Seconds(ForwardPass.Decode(sequences, first + sequences * j));
        Assert.Equal(sum, model.DecodeSpanSeconds(sequences, first, steps), sum * 1e-12);
    }

    [Fact]
    public void The_sides_cross_inside_the_chosen_span()
    {
        // Guard for the theory above: with these rates compute wins the first step and memory the last.
        var model = new StepTimeModel(Memory(), Rates(3e12, 2.2e14, 2e-4, 7e-6));
        var first = ForwardPass.Decode(200, 200 * 300);
        var last = ForwardPass.Decode(200, 200 * 300 + 200 * 4999);
        Assert.True(model.Flops(first) / 2.2e14 > model.Bytes(first) / 3e12 + 200 * 7e-6);
        Assert.True(model.Flops(last) / 2.2e14 < model.Bytes(last) / 3e12 + 200 * 7e-6);
    }

    [Fact]
    public void Time_grows_with_batch_context_and_model_and_shrinks_with_bandwidth()
    {
        StepTimeModel h200 = StepTimeModel.For(Memory())!, h100 = StepTimeModel.For(Memory(gpu: GpuSpec.FindPreset("h100-80gb")))!;
        double previous = 0;
        foreach (int batch in new[] { 1, 2, 8, 49, 128, 256, 1024 })
        {
            double t = h200.Seconds(ForwardPass.Decode(batch, batch * 513L));
            Assert.True(t > previous, $"batch {batch}");
            previous = t;
            Assert.True(h100.Seconds(ForwardPass.Decode(batch, batch * 513L)) >= t, $"h100 not faster at batch {batch}"); // equal once both are compute-bound
        }
        Assert.True(h200.Seconds(ForwardPass.Decode(49, 49 * 2048L)) > h200.Seconds(ForwardPass.Decode(49, 49 * 512L)));
        var big = StepTimeModel.For(new MemoryModel(ModelSpec.Llama3_70B, GpuSpec.H200, "bf16", 1, OverheadModel.Default))!;
        Assert.True(big.Seconds(ForwardPass.Decode(8, 8 * 513L)) > 5 * h200.Seconds(ForwardPass.Decode(8, 8 * 513L)));
    }

    [Fact]
    public void Ragged_prefill_packs_parts_by_length_into_passes_within_the_cap()
    {
        // Prompts 100 ×3, 250, 7, 100, 4000 ×3: parts [100 ×4] (400 tokens), [250], [7], [4000 ×2] (8000), [4000].
        int[] lengths = [100, 250, 100, 100, 7, 100, 4000, 4000, 4000];
        var passes = PrefillPlan.RaggedPasses(lengths, 8192);
        Assert.Equal([[100, 250, 7], [4000], [4000]], passes.Select(p => p.Select(part => part.Length).ToArray()).ToArray());
        Assert.Equal([0, 2, 3, 5], passes[0][0].Requests);
        Assert.Equal([6, 7], passes[1][0].Requests);
        // At a cap of 300 tokens: parts [100 ×3] (300), [100], [250], [7], and each 4000-token prompt alone; [250] and
        // [7] share a pass (257), [100] cannot join [250] (350).
        Assert.Equal([[100], [100], [250, 7], [4000], [4000], [4000]],
            PrefillPlan.RaggedPasses(lengths, 300).Select(p => p.Select(part => part.Length).ToArray()).ToArray());
    }

    [Fact]
    public void A_ragged_pass_costs_its_parts_work_once()
    {
        // Three prompts of different lengths in one pass: one fixed cost and one read of the weights, for the sum of the
        // parts' tokens, attended keys and keys read; every request's first token at the end of that pass.
        var model = new StepTimeModel(Memory(), Rates(3.8e12, 3.3e14, 5e-4, 1.2e-5));
        (int, int)[] requests = [(300, 5), (700, 3), (50, 9)];
        TimingResult ragged = StaticTiming.Run(model, requests, raggedPrefill: true), byLength = StaticTiming.Run(model, requests);

        var parts = new[] { ForwardPass.Prefill(1, 0, 300), ForwardPass.Prefill(1, 0, 700), ForwardPass.Prefill(1, 0, 50) };
        var pass = new ForwardPass(3, parts.Sum(p => p.Tokens), parts.Sum(p => p.KeysAttended), parts.Sum(p => p.KeysRead));
        Assert.Equal(1, ragged.PrefillPasses);
        Assert.Equal(3, byLength.PrefillPasses);
        Assert.Equal(model.Seconds(pass), ragged.PrefillSeconds, 12);
        Assert.Equal(parts.Sum(p => model.Seconds(p)), byLength.PrefillSeconds, 12);
        Assert.True(ragged.PrefillSeconds < byLength.PrefillSeconds);
        Assert.Equal(ragged.DecodeSeconds, byLength.DecodeSeconds, 12);
    }

    [Fact]
    public void A_static_batch_in_spans_equals_its_steps_one_by_one()
    {
        TraceRequest[] requests = TestTraces.Random(60, seed: 11, maxPrompt: 3000, maxOutput: 900);
        var model = new StepTimeModel(Memory(), Rates(3.8e12, 3.3e14, 5e-4, 1.2e-5, shape: 0.013));
        TimingResult timed = StaticTiming.Run(model, [.. requests.Select(r => (r.PromptTokens, r.OutputTokens))]);

        // Independently: the runner's prefill (one pass per prompt length, in order of first appearance, at most
        // 8,192 tokens), then every decode step with its own batch and keys.
        double now = 0;
        var firstToken = new double[requests.Length];
        foreach (var group in requests.Select((r, i) => (r, i)).GroupBy(x => x.r.PromptTokens))
            foreach (var chunk in group.Chunk(Math.Max(1, 8192 / group.Key)))
            {
                now += model.Seconds(ForwardPass.Prefill(chunk.Length, 0, group.Key));
                foreach (var x in chunk) firstToken[x.i] = now;
            }
        Assert.Equal(now, timed.PrefillSeconds, 12);
        int maxOutput = requests.Max(r => r.OutputTokens), lastBatch = -1, shapes = 0;
        for (int k = 1; k < maxOutput; k++)
        {
            TraceRequest[] active = [.. requests.Where(r => r.OutputTokens > k)];
            if (active.Length != lastBatch) (lastBatch, shapes, now) = (active.Length, shapes + 1, now + 0.013);
            now += model.Seconds(ForwardPass.Decode(active.Length, active.Sum(r => (long)r.PromptTokens + k)));
        }
        Assert.Equal(now, timed.WallSeconds, now * 1e-12);
        Assert.Equal(shapes, timed.DecodeShapes);
        Assert.Equal(maxOutput - 1, timed.DecodePasses);
        Assert.Equal(requests.Sum(r => (long)r.OutputTokens), timed.GeneratedTokens);
        Assert.Equal(Percentile(firstToken, 0.5), timed.Ttft.P50, 12);
    }

    [Theory]
    [InlineData(400_000_000L, 16)]      // tight: preemptions and recompute
    [InlineData(20_000_000_000L, 256)]  // roomy
    public void Continuous_time_event_by_event_equals_a_step_by_step_replay(long kvBytes, int blockSize)
    {
        TraceRequest[] requests = [.. SyntheticTrace.Draw(TestTraces.ShareGpt, 300, seed: 4).Requests];
        GpuSpec gpu = GpuSpec.H200 with { TotalMemoryBytes = 16_060_522_496 + OverheadModel.Default.Bytes(ModelSpec.Llama3_8B, 2, 1, 8192, 256) + kvBytes };
        var config = new SimulationConfig(Memory(gpu: gpu), blockSize, SimulationMode.Continuous);
        RunResult run = Simulator.RunPaged(config, requests, predictTime: true);
        Assert.True(run.Fits);
        if (kvBytes < 1_000_000_000) Assert.True(run.Preemptions > 0);

        // The same scheduler one step at a time; every step's passes built from each request's own length.
        StepTimeModel model = StepTimeModel.For(config.Memory)!;
        var cache = new KvCacheManager(new KvCacheOptions((int)run.CapacityUnits, blockSize, 8192));
        var scheduler = new Scheduler(cache, config.SchedulerOptions);
        foreach (TraceRequest r in requests) scheduler.Submit(r.PromptTokens, r.OutputTokens);
        double now = 0, prefill = 0;
        var sizes = new HashSet<long>();
        while (scheduler.Advance(1).Steps > 0)
        {
            var admitted = scheduler.Admitted.ToHashSet();
            foreach (var group in admitted.GroupBy(a => requests[a].PromptTokens + scheduler.Generated(a) - 1))
            {
                double t = model.Seconds(ForwardPass.Prefill(group.Count(), 0, group.Key));
                (now, prefill) = (now + t, prefill + t);
            }
            int[] decoding = [.. scheduler.RunningRequests.Where(r => !admitted.Contains(r))];
            if (decoding.Length == 0) continue;
            if (sizes.Add(decoding.Length)) now += model.Parameters.ShapeSeconds;
            now += model.Seconds(ForwardPass.Decode(decoding.Length, decoding.Sum(r => (long)requests[r].PromptTokens + scheduler.Generated(r) - 1)));
        }
        Assert.Equal(now, run.Timing!.WallSeconds, now * 1e-9);
        Assert.Equal(prefill, run.Timing.PrefillSeconds, prefill * 1e-9);
        Assert.Equal(run.Steps, scheduler.CurrentStep);
    }

    [Fact]
    public void Naive_continuous_time_is_predicted_and_slower_than_paged_when_reservations_limit_the_batch()
    {
        TraceRequest[] requests = [.. SyntheticTrace.Draw(TestTraces.ShareGpt, 400, seed: 9).Requests];
        var config = new SimulationConfig(Memory(gpu: GpuSpec.H200 with { TotalMemoryBytes = 40_000_000_000 }), 16, SimulationMode.Continuous);
        RunResult paged = Simulator.RunPaged(config, requests, predictTime: true), naive = Simulator.RunNaive(config, requests, predictTime: true);
        Assert.Equal(requests.Sum(r => (long)r.OutputTokens), naive.Timing!.GeneratedTokens);
        Assert.True(naive.Timing.WallSeconds > paged.Timing!.WallSeconds);
        Assert.True(naive.Timing.Ttft.P50 > paged.Timing.Ttft.P50);
    }

    [Fact]
    public void No_time_without_chip_figures_or_for_the_seeds_timeline()
    {
        TraceRequest[] requests = [.. TestTraces.ShareGpt.Requests.Take(7)];
        var sizeOnly = new SimulationConfig(new MemoryModel(ModelSpec.Llama3_8B, GpuSpec.OfSize(80_000_000_000, "80GB"), "bf16", 1, OverheadModel.Default));
        Assert.Null(Simulator.RunPaged(sizeOnly, requests, predictTime: true).Timing);
        Assert.Null(Simulator.RunPaged(TestTraces.Seed, requests, predictTime: true).Timing);
        Assert.NotNull(Simulator.RunNaive(TestTraces.Seed with { SeedCompatible = false }, requests, predictTime: true).Timing);
    }

    [Fact]
    public void Serve_trace_predictions_carry_time_on_a_known_gpu()
    {
        // serve-trace's prediction: the continuous run through exactly the run's pool, and the static waves
        // (as many requests as fit at full length, in order) each timed as a static batch.
        TraceRequest[] requests = [.. TestTraces.ShareGpt.Requests];
        const int blocks = 64, blockSize = 256;
        var prediction = PagedSim.Model.Generation.ContinuousPrediction.Simulate(PagedSim.Model.Synthetic.SyntheticShapes.Llama3_8B, 2, blocks,
            blockSize, 8192, SchedulerOptions.Default, requests, chip: GpuSpec.H200);
        Assert.NotNull(prediction.Simulation.Timing);
        Assert.Equal(requests.Sum(r => (long)r.OutputTokens), prediction.Simulation.Timing.GeneratedTokens);
        StepTimeModel model = StepTimeModel.For(Memory())!;
        double waves = 0;
        for (int start = 0; start < requests.Length;)
        {
            int end = start, used = 0;
            while (end < requests.Length && used + (requests[end].TotalTokens + blockSize - 1) / blockSize <= blocks)
                used += (requests[end++].TotalTokens + blockSize - 1) / blockSize;
            waves += StaticTiming.Run(model, [.. requests[start..end].Select(r => (r.PromptTokens, r.OutputTokens))]).WallSeconds;
            start = end;
        }
        Assert.Equal(waves, prediction.StaticWavesSeconds!.Value, waves * 1e-12);
        Assert.Null(PagedSim.Model.Generation.ContinuousPrediction.Simulate(PagedSim.Model.Synthetic.SyntheticShapes.Llama3_8B, 2, blocks,
            blockSize, 8192, SchedulerOptions.Default, requests).Simulation.Timing);
    }

    [Fact]
    public void Percentiles_interpolate_between_order_statistics()
    {
        double[] values = [5, 1, 4, 2, 3];
        Percentiles p = Percentiles.Of(values);
        Assert.Equal(3, p.P50);
        Assert.Equal(4.6, p.P90, 12);
    }

    private static double Percentile(double[] values, double q)
    {
        double[] sorted = [.. values.Order()];
        double rank = q * (sorted.Length - 1);
        int low = (int)rank;
        return sorted[low] + (sorted[Math.Min(low + 1, sorted.Length - 1)] - sorted[low]) * (rank - low);
    }
}
