namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Accumulates predicted time along an event-driven continuous run. Between two processed steps every step is a
/// decode pass over the same sequences, each one token longer than the step before, so a quiet span is summed in
/// closed form (<see cref="StepTimeModel.DecodeSpanSeconds"/>); a processed step runs as the runner runs it: one
/// prefill pass per length among the requests admitted in it (prompt plus any tokens generated before a
/// preemption: the recompute), then one decode pass over the others.
/// </summary>
internal sealed class TimeRecorder(StepTimeModel model, IReadOnlyList<TraceRequest> requests)
{
    private readonly double[] _firstToken = Filled(requests.Count, double.NaN);
    private readonly double[] _finish = new double[requests.Count];
    private readonly bool[] _shapes = new bool[1024];
    private readonly HashSet<long> _largeShapes = [];
    private int[] _lengths = new int[16];
    private int _admitted, _shapeCount;
    private double _now, _prefill, _decode;
    private long _prefillPasses, _decodePasses;

    /// <summary><paramref name="steps"/> quiet decode steps of <paramref name="sequences"/> sequences, the first
    /// reading <paramref name="firstKeys"/> keys.</summary>
    public void Quiet(long steps, long sequences, long firstKeys)
    {
        if (steps <= 0 || sequences <= 0) return;
        Shape(sequences);
        double t = model.DecodeSpanSeconds(sequences, firstKeys, steps);
        (_now, _decode, _decodePasses) = (_now + t, _decode + t, _decodePasses + steps);
    }

    /// <summary>A request is (re)admitted in the current step and prefills <paramref name="tokens"/> tokens: its
    /// prompt plus what it had generated before a preemption.</summary>
    public void Admit(int tokens)
    {
        if (_admitted == _lengths.Length) Array.Resize(ref _lengths, _lengths.Length * 2);
        _lengths[_admitted++] = tokens;
    }

    /// <summary>Ends a processed step: the admitted requests' prefill passes, then a decode pass over
    /// <paramref name="decodeSequences"/> others reading <paramref name="decodeKeys"/> keys.</summary>
    public void EndStep(long decodeSequences, long decodeKeys)
    {
        Span<int> lengths = _lengths.AsSpan(0, _admitted);
        lengths.Sort();
        for (int i = 0; i < lengths.Length;)
        {
            int j = i;
            while (j < lengths.Length && lengths[j] == lengths[i]) j++;
            // Prefix-cache hits would enter here as cached tokens (computed = length − cached).
            double t = model.Seconds(ForwardPass.Prefill(j - i, cached: 0, computed: lengths[i]));
            (_now, _prefill, _prefillPasses) = (_now + t, _prefill + t, _prefillPasses + 1);
            i = j;
        }
        _admitted = 0;
        if (decodeSequences > 0)
        {
            Shape(decodeSequences);
            double t = model.Seconds(ForwardPass.Decode(decodeSequences, decodeKeys));
            (_now, _decode, _decodePasses) = (_now + t, _decode + t, _decodePasses + 1);
        }
    }

    /// <summary>The request produced its first token in the step just ended (later admissions keep the first).</summary>
    public void FirstToken(int request)
    {
        if (double.IsNaN(_firstToken[request])) _firstToken[request] = _now;
    }

    /// <summary>The request produced its last token in the step just ended.</summary>
    public void Finish(int request) => _finish[request] = _now;

    public TimingResult Result()
    {
        var outputs = new int[requests.Count];
        for (int i = 0; i < outputs.Length; i++)
        {
            outputs[i] = requests[i].OutputTokens;
            if (double.IsNaN(_firstToken[i])) _firstToken[i] = _finish[i] = _now; // an unfinished run (does not fit)
        }
        return TimingResult.From(_now, _prefill, _decode, _prefillPasses, _decodePasses, _shapeCount, _firstToken, _finish, outputs);
    }

    private void Shape(long sequences)
    {
        bool known = sequences < _shapes.Length ? _shapes[sequences] : !_largeShapes.Add(sequences);
        if (known) return;
        if (sequences < _shapes.Length) _shapes[sequences] = true;
        _shapeCount++;
        double t = model.Parameters.ShapeSeconds;
        (_now, _decode) = (_now + t, _decode + t);
    }

    private static double[] Filled(int n, double value)
    {
        var a = new double[n];
        Array.Fill(a, value);
        return a;
    }
}
