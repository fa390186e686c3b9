using System.Runtime.InteropServices;

namespace PagedSim.Model.Parallel;

/// <summary>
/// The NCCL entry points tensor parallelism uses (nccl.h, NCCL 2.x), bound once from <see cref="NcclLibrary"/>.
/// Handles (<c>ncclComm_t</c>, <c>cudaStream_t</c>) are pointers; enums are ints.
/// </summary>
internal sealed unsafe class NcclNative
{
    /// <summary>ncclSum.</summary>
    public const int Sum = 0;

    private static readonly Lazy<NcclNative> s_shared = new(() => new NcclNative(NcclLibrary.Load()));

    private readonly delegate* unmanaged<int*, int> _getVersion;
    private readonly delegate* unmanaged<int, nint> _getErrorString;
    private readonly delegate* unmanaged<nint, nint> _getLastError; // NCCL ≥ 2.13; null before
    private readonly delegate* unmanaged<NcclUniqueId*, int> _getUniqueId;
    private readonly delegate* unmanaged<nint*, int, NcclUniqueId, int, int> _commInitRank;
    private readonly delegate* unmanaged<nint*, int, int*, int> _commInitAll;
    private readonly delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int> _allReduce;
    private readonly delegate* unmanaged<nint, nint, nuint, int, nint, nint, int> _allGather;
    private readonly delegate* unmanaged<nint, int> _commDestroy;
    private readonly delegate* unmanaged<nint, int> _commAbort;

    private NcclNative(nint handle)
    {
        _getVersion = (delegate* unmanaged<int*, int>)Export(handle, "ncclGetVersion");
        _getErrorString = (delegate* unmanaged<int, nint>)Export(handle, "ncclGetErrorString");
        _getLastError = NativeLibrary.TryGetExport(handle, "ncclGetLastError", out nint last) ? (delegate* unmanaged<nint, nint>)last : null;
        _getUniqueId = (delegate* unmanaged<NcclUniqueId*, int>)Export(handle, "ncclGetUniqueId");
        _commInitRank = (delegate* unmanaged<nint*, int, NcclUniqueId, int, int>)Export(handle, "ncclCommInitRank");
        _commInitAll = (delegate* unmanaged<nint*, int, int*, int>)Export(handle, "ncclCommInitAll");
        _allReduce = (delegate* unmanaged<nint, nint, nuint, int, int, nint, nint, int>)Export(handle, "ncclAllReduce");
        _allGather = (delegate* unmanaged<nint, nint, nuint, int, nint, nint, int>)Export(handle, "ncclAllGather");
        _commDestroy = (delegate* unmanaged<nint, int>)Export(handle, "ncclCommDestroy");
        _commAbort = (delegate* unmanaged<nint, int>)Export(handle, "ncclCommAbort");
    }

    /// <summary>The process-wide binding; <see cref="NcclException"/> when libnccl.so.2 cannot be found or lacks an entry point.</summary>
    public static NcclNative Shared
    {
        get
        {
            try
            {
                return s_shared.Value;
            }
            catch (NcclException)
            {
                throw;
            }
            catch (Exception e)
            {
                throw new NcclException($"libnccl.so.2: {e.Message.Split('\n')[0]}", e);
            }
        }
    }

    /// <summary>NCCL's version as "2.21.5".</summary>
    public string Version
    {
        get
        {
            int v;
            Check(_getVersion(&v), "ncclGetVersion");
            // NCCL ≥ 2.9 encodes major·10000 + minor·100 + patch; older, major·1000 + minor·100 + patch.
            return v >= 10000 ? $"{v / 10000}.{v / 100 % 100}.{v % 100}" : $"{v / 1000}.{v / 100 % 10}.{v % 100}";
        }
    }

    public NcclUniqueId GetUniqueId()
    {
        NcclUniqueId id;
        Check(_getUniqueId(&id), "ncclGetUniqueId");
        return id;
    }

    public nint CommInitRank(int size, NcclUniqueId id, int rank)
    {
        nint comm;
        Check(_commInitRank(&comm, size, id, rank), "ncclCommInitRank");
        return comm;
    }

    public nint[] CommInitAll(int[] devices)
    {
        var comms = new nint[devices.Length];
        fixed (nint* c = comms)
        fixed (int* d = devices)
            Check(_commInitAll(c, devices.Length, d), "ncclCommInitAll");
        return comms;
    }

    public void AllReduce(nint send, nint receive, long count, int dataType, nint comm, nint stream) =>
        Check(_allReduce(send, receive, (nuint)count, dataType, Sum, comm, stream), "ncclAllReduce", comm);

    public void AllGather(nint send, nint receive, long countPerRank, int dataType, nint comm, nint stream) =>
        Check(_allGather(send, receive, (nuint)countPerRank, dataType, comm, stream), "ncclAllGather", comm);

    public void CommDestroy(nint comm) => Check(_commDestroy(comm), "ncclCommDestroy");

    public void CommAbort(nint comm) => _commAbort(comm); // best effort: the group is failing already

    private void Check(int result, string call, nint comm = 0)
    {
        if (result == 0) return;
        string reason = Marshal.PtrToStringUTF8(_getErrorString(result)) ?? $"error {result}";
        string? detail = comm != 0 && _getLastError != null ? Marshal.PtrToStringUTF8(_getLastError(comm)) : null;
        throw new NcclException($"{call} failed ({result}: {reason}){(string.IsNullOrEmpty(detail) ? "" : $": {detail.Split('\n')[0]}")}");
    }

    private static nint Export(nint handle, string name) =>
        NativeLibrary.TryGetExport(handle, name, out nint address) ? address
            : throw new NcclException($"libnccl.so.2 lacks {name} (NCCL 2.x needed)");
}
