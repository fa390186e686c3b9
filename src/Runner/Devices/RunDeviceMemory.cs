using System.Runtime.InteropServices;
using System.Text;

namespace PagedSim.Runner;

/// <summary>
/// The GPU's name and its free and total memory as the driver reports them (cuMemGetInfo, the number
/// torch.cuda.mem_get_info gives), read through the CUDA driver library libcuda.so.1 that every NVIDIA driver installs:
/// TorchSharp exposes no memory query. Device 0's primary context is used, the one libtorch itself runs in, so no
/// context is created. Used memory (total − free) covers everything on the device: the CUDA context, libtorch's
/// caching allocator (what it holds, in use or cached) and any other process.
/// </summary>
internal static unsafe class RunDeviceMemory
{
    private static readonly Lazy<Api?> s_api = new(Load);

    /// <summary>Null when the driver library answers, else why not.</summary>
    public static string? Unavailable => s_api.Value is null ? "libcuda.so.1 (the NVIDIA driver library) could not be loaded" : null;

    /// <summary>Device 0's name, e.g. "NVIDIA H100 80GB HBM3", or null.</summary>
    public static string? Name()
    {
        Api? api = s_api.Value;
        if (api is null || api.Init(0) != 0 || api.DeviceGet(out int device, 0) != 0) return null;
        byte* name = stackalloc byte[256];
        if (api.GetName(name, 256, device) != 0) return null;
        return Marshal.PtrToStringUTF8((nint)name);
    }

    /// <summary>(free, total) bytes of device 0, or null when the driver cannot say.</summary>
    public static (long Free, long Total)? Query()
    {
        Api? api = s_api.Value;
        if (api is null || api.Init(0) != 0 || api.DeviceGet(out int device, 0) != 0) return null;
        if (api.Retain(out nint context, device) != 0) return null;
        try
        {
            if (api.Push(context) != 0) return null;
            nuint free, total;
            int rc = api.MemGetInfo(&free, &total);
            api.Pop(out _);
            return rc == 0 ? ((long)free, (long)total) : null;
        }
        finally
        {
            api.Release(device);
        }
    }

    private static Api? Load()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsWindows()) return null;
        foreach (string name in new[] { "libcuda.so.1", "libcuda.so", "nvcuda.dll" })
        {
            if (!NativeLibrary.TryLoad(name, out nint handle)) continue;
            try
            {
                return new Api(handle);
            }
            catch (EntryPointNotFoundException)
            {
                return null;
            }
        }
        return null;
    }

    private sealed class Api(nint handle)
    {
        private readonly delegate* unmanaged<uint, int> _init = (delegate* unmanaged<uint, int>)Export(handle, "cuInit");
        private readonly delegate* unmanaged<int*, int, int> _deviceGet = (delegate* unmanaged<int*, int, int>)Export(handle, "cuDeviceGet");
        private readonly delegate* unmanaged<byte*, int, int, int> _getName = (delegate* unmanaged<byte*, int, int, int>)Export(handle, "cuDeviceGetName");
        private readonly delegate* unmanaged<nint*, int, int> _retain = (delegate* unmanaged<nint*, int, int>)Export(handle, "cuDevicePrimaryCtxRetain");
        private readonly delegate* unmanaged<int, int> _release = (delegate* unmanaged<int, int>)Export(handle, "cuDevicePrimaryCtxRelease_v2");
        private readonly delegate* unmanaged<nint, int> _push = (delegate* unmanaged<nint, int>)Export(handle, "cuCtxPushCurrent_v2");
        private readonly delegate* unmanaged<nint*, int> _pop = (delegate* unmanaged<nint*, int>)Export(handle, "cuCtxPopCurrent_v2");
        private readonly delegate* unmanaged<nuint*, nuint*, int> _memGetInfo = (delegate* unmanaged<nuint*, nuint*, int>)Export(handle, "cuMemGetInfo_v2");

        public int Init(uint flags) => _init(flags);
        public int DeviceGet(out int device, int ordinal) { int d; int rc = _deviceGet(&d, ordinal); device = d; return rc; }
        public int GetName(byte* name, int length, int device) => _getName(name, length, device);
        public int Retain(out nint context, int device) { nint c; int rc = _retain(&c, device); context = c; return rc; }
        public int Release(int device) => _release(device);
        public int Push(nint context) => _push(context);
        public int Pop(out nint context) { nint c; int rc = _pop(&c); context = c; return rc; }
        public int MemGetInfo(nuint* free, nuint* total) => _memGetInfo(free, total);

        private static nint Export(nint handle, string name) =>
            NativeLibrary.TryGetExport(handle, name, out nint address) ? address : throw new EntryPointNotFoundException(name);
    }
}
