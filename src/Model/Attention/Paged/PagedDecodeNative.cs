using System.Runtime.InteropServices;
using PagedSim.Model.Attention.Flash;

namespace PagedSim.Model.Attention.Paged;

/// <summary>
/// The paged decode-attention entry points of libpagedsim_flash.so (<c>psk_paged_plan</c>, <c>psk_paged_decode</c>),
/// loaded from the same file as <see cref="FlashAttentionNative"/>. Loaded once per process, never unloaded.
/// </summary>
internal sealed unsafe class PagedDecodeNative
{
    private static readonly Lazy<(PagedDecodeNative? Native, string? Error)> s_shared = new(LoadDefault);

    private readonly delegate* unmanaged<PagedDecodeArgs*, int*, long*, int> _plan;
    private readonly delegate* unmanaged<PagedDecodeArgs*, int> _decode;
    private readonly delegate* unmanaged<nint> _lastError;

    private PagedDecodeNative(nint handle)
    {
        _plan = (delegate* unmanaged<PagedDecodeArgs*, int*, long*, int>)Export(handle, "psk_paged_plan");
        _decode = (delegate* unmanaged<PagedDecodeArgs*, int>)Export(handle, "psk_paged_decode");
        _lastError = (delegate* unmanaged<nint>)Export(handle, "psk_last_error");
        int size = ((delegate* unmanaged<int>)Export(handle, "psk_paged_args_size"))();
        if (size != Marshal.SizeOf<PagedDecodeArgs>())
            throw new PagedAttentionException($"the native psk_paged_args has {size} bytes; this binding's {Marshal.SizeOf<PagedDecodeArgs>()}: rebuild native/");
    }

    /// <summary>The process-wide binding; throws <see cref="PagedAttentionException"/> when the library lacks it.</summary>
    public static PagedDecodeNative Shared => s_shared.Value.Native ?? throw new PagedAttentionException(s_shared.Value.Error!);

    /// <summary>Null when <see cref="Shared"/> loads, else the one-line reason it does not.</summary>
    public static string? UnavailableReason => s_shared.Value.Error;

    /// <summary>psk_paged_plan: the split count and workspace bytes a call with <paramref name="args"/> needs.</summary>
    public (int NumSplits, long WorkspaceBytes) Plan(in PagedDecodeArgs args)
    {
        int splits;
        long bytes;
        fixed (PagedDecodeArgs* a = &args) Check(_plan(a, &splits, &bytes));
        return (splits, bytes);
    }

    /// <summary>psk_paged_decode; throws on any refusal or failure.</summary>
    public void Decode(in PagedDecodeArgs args)
    {
        fixed (PagedDecodeArgs* a = &args) Check(_decode(a));
    }

    private void Check(int status)
    {
        if (status == 0) return;
        string message = Marshal.PtrToStringUTF8(_lastError()) ?? "";
        throw new PagedAttentionException(message.Length > 0 ? message : $"psk status {status}");
    }

    private static (PagedDecodeNative?, string?) LoadDefault()
    {
        string? missing = FlashAttentionNative.UnavailableReason;
        if (missing is not null) return (null, missing);
        try
        {
            return (new PagedDecodeNative(NativeLibrary.Load(FlashAttentionNative.Shared.Path)), null);
        }
        catch (PagedAttentionException e)
        {
            return (null, e.Message);
        }
    }

    private static nint Export(nint handle, string name) =>
        NativeLibrary.TryGetExport(handle, name, out nint address) ? address
            : throw new PagedAttentionException($"the native library lacks {name}: rebuild native/");
}
