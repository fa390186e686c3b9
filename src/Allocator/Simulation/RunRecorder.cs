namespace PagedSim.Allocator.Simulation;

/// <summary>
/// Accumulates peak and time-averaged KV figures from the steps a simulation processes. Between two processed steps
/// every step is quiet: reserved memory stays, filled memory grows by the batch's growth rate each step, so sums and
/// maxima over those steps come in closed form.
/// </summary>
internal sealed class RunRecorder(long bytesPerSlot, bool keepTimeline)
{
    private readonly List<TimelinePoint> _timeline = [];
    private long _lastStep, _reserved, _filled, _rate, _units;
    private int _running, _waiting;
    private double _sumReserved, _sumFilled;
    private long _peakReserved, _peakFilled, _peakFragmented;

    public long Steps => _lastStep;

    public IReadOnlyList<TimelinePoint> Timeline => _timeline;

    /// <summary>Records processed step <paramref name="step"/> (state after it) and the quiet steps before it.</summary>
    public void Record(long step, long units, long reservedSlots, long filledSlots, long growthRate, int running, int waiting)
    {
        long quiet = step - _lastStep - 1;
        if (quiet > 0)
        {
            _sumReserved += (double)_reserved * quiet;
            _sumFilled += (double)_filled * quiet + (double)_rate * quiet * (quiet + 1) / 2;
            _peakFilled = Math.Max(_peakFilled, _filled + _rate * quiet);
            _peakFragmented = Math.Max(_peakFragmented, _reserved - _filled - _rate);
        }
        _sumReserved += reservedSlots;
        _sumFilled += filledSlots;
        _peakReserved = Math.Max(_peakReserved, reservedSlots);
        _peakFilled = Math.Max(_peakFilled, filledSlots);
        _peakFragmented = Math.Max(_peakFragmented, reservedSlots - filledSlots);
        (_lastStep, _units, _reserved, _filled, _rate, _running, _waiting) = (step, units, reservedSlots, filledSlots, growthRate, running, waiting);
        if (keepTimeline)
            _timeline.Add(new TimelinePoint(step, units, reservedSlots * bytesPerSlot, filledSlots * bytesPerSlot, running, waiting));
    }

    public KvStats Peak => new(_peakReserved * (double)bytesPerSlot, _peakFilled * (double)bytesPerSlot, _peakFragmented * (double)bytesPerSlot);

    public KvStats Average
    {
        get
        {
            if (_lastStep == 0) return default;
            double r = _sumReserved / _lastStep * bytesPerSlot, f = _sumFilled / _lastStep * bytesPerSlot;
            return new KvStats(r, f, r - f);
        }
    }
}
