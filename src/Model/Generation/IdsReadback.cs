using PagedSim.Model.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Model.Generation;

/// <summary>
/// The chosen ids of a pass brought to the host without waiting for the passes queued after it: on CUDA with the
/// native library, a copy into pinned memory is queued right behind the pass and the host later waits for an event
/// recorded behind that copy (a plain device-to-host copy would wait for everything queued before it, the next pass
/// included). Two slots: one pass's ids may be in flight while the previous pass's are read. Elsewhere (CPU, or no
/// native library) <see cref="Start"/> reads them at once.
/// </summary>
internal sealed class IdsReadback : IDisposable
{
    private readonly FusedKernelsNative? _native;
    private readonly Tensor?[] _pinned = new Tensor?[2];
    private readonly nint[] _events = new nint[2];
    private readonly long[]?[] _read = new long[]?[2];
    private readonly int[] _counts = new int[2];
    private int _next;

    public IdsReadback(Device device)
    {
        if (device.type != DeviceType.CUDA) return;
        _native = FusedKernelsNative.TryShared;
        if (_native is null) return;
        for (int i = 0; i < 2; i++) _events[i] = _native.CreateEvent();
    }

    /// <summary>Whether a read can overlap the passes queued after it.</summary>
    public bool Overlaps => _native is not null;

    /// <summary>Starts bringing <paramref name="ids"/> (int64 [n], on the device) to the host; returns the slot to <see cref="Wait"/> on.</summary>
    public int Start(Tensor ids)
    {
        int slot = _next;
        _next = 1 - _next;
        int n = (int)ids.numel();
        _counts[slot] = n;
        if (_native is null)
        {
            _read[slot] = ids.cpu().data<long>().ToArray();
            return slot;
        }
        if (_pinned[slot] is not { } buffer || buffer.numel() < n)
        {
            _pinned[slot]?.Dispose();
            using Tensor plain = empty([Math.Max(n, 64)], ScalarType.Int64);
            _pinned[slot] = buffer = plain.pin_memory().DetachFromDisposeScope();
        }
        using (Tensor target = buffer.narrow(0, 0, n))
            target.copy_(ids.reshape(-1), nonBlocking: true);
        _native.RecordEvent(_events[slot]);
        return slot;
    }

    /// <summary>The ids <see cref="Start"/> began to read into <paramref name="slot"/>, once they are on the host.</summary>
    public long[] Wait(int slot)
    {
        if (_native is null) return _read[slot]!;
        _native.SynchronizeEvent(_events[slot]);
        using Tensor read = _pinned[slot]!.narrow(0, 0, _counts[slot]);
        return read.data<long>().ToArray();
    }

    public void Dispose()
    {
        for (int i = 0; i < 2; i++)
        {
            _pinned[i]?.Dispose();
            _pinned[i] = null;
            if (_events[i] != 0) _native?.DestroyEvent(_events[i]);
            _events[i] = 0;
        }
    }
}
