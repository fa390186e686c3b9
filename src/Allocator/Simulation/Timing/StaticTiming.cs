namespace PagedSim.Allocator.Simulation;

/// <summary>
/// The time of a static batch as the runner runs it: the prefill passes of <see cref="PrefillPlan"/> (each gives
/// its requests their first token), then one decode pass a step over every request still producing tokens. The
/// paged and the naive cache read the same keys, so they take the same time. Decode steps are summed span by span
/// between request ends (<see cref="StepTimeModel.DecodeSpanSeconds"/>), so the cost is per request, not per token.
/// </summary>
public static class StaticTiming
{
    /// <summary>The predicted time of <paramref name="requests"/> (prompt, answer tokens) as one static batch; with
    /// <paramref name="raggedPrefill"/>, prompts of several lengths share a pass (one pass's cost for their parts' work).</summary>
    public static TimingResult Run(StepTimeModel model, IReadOnlyList<(int Prompt, int Output)> requests, int maxPrefillTokens = 8192,
        bool raggedPrefill = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(requests);
        int n = requests.Count;
        var firstToken = new double[n];
        var finish = new double[n];
        var outputs = new int[n];
        double now = 0;
        var prompts = new int[n];
        for (int i = 0; i < n; i++) (prompts[i], outputs[i]) = requests[i];
        IReadOnlyList<IReadOnlyList<(int Length, int[] Requests)>> passes = raggedPrefill
            ? PrefillPlan.RaggedPasses(prompts, maxPrefillTokens)
            : [.. PrefillPlan.Passes(prompts, maxPrefillTokens).Select(part => (IReadOnlyList<(int, int[])>)[part])];
        foreach (IReadOnlyList<(int Length, int[] Requests)> pass in passes)
        {
            var work = new ForwardPass(0, 0, 0, 0);
            foreach ((int length, int[] members) in pass)
            {
                ForwardPass part = ForwardPass.Prefill(members.Length, cached: 0, computed: length);
                work = new ForwardPass(work.Sequences + part.Sequences, work.Tokens + part.Tokens,
                    work.KeysAttended + part.KeysAttended, work.KeysRead + part.KeysRead);
            }
            now += model.Seconds(work);
            foreach ((_, int[] members) in pass)
                foreach (int r in members) firstToken[r] = finish[r] = now;
        }
        double prefill = now;

        // Decode step k (k ≥ 1) feeds each request's k-th answer token: those with more than k answer tokens take
        // part, each reading prompt + k keys. Requests leave in order of answer length.
        int[] byOutput = [.. Enumerable.Range(0, n).OrderBy(i => outputs[i])];
        long activePrompts = prompts.Sum(p => (long)p), active = n;
        long k = 1, decodePasses = 0;
        int shapes = 0, next = 0;
        while (next < n)
        {
            // Requests whose last token came at step k − 1 (or from prefill) leave before step k.
            while (next < n && outputs[byOutput[next]] <= k)
            {
                int r = byOutput[next++];
                activePrompts -= prompts[r];
                active--;
            }
            if (active == 0) break;
            long last = outputs[byOutput[next]] - 1; // the next request to leave produces its last token at this step
            long steps = last - k + 1;
            now += model.DecodeSpanSeconds(active, activePrompts + active * k, steps);
            now += model.Parameters.ShapeSeconds;
            shapes++;
            decodePasses += steps;
            k = last + 1;
            for (int j = next; j < n && outputs[byOutput[j]] - 1 == last; j++) finish[byOutput[j]] = now;
        }
        return TimingResult.From(now, prefill, now - prefill, passes.Count, decodePasses, shapes, firstToken, finish, outputs);
    }
}
