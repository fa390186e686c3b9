using System.Runtime.InteropServices;

namespace PagedSim.Model.Attention.Flash;

/// <summary>
/// The native library libpagedsim_flash.so (native/): its C entry points as function pointers, and its error codes
/// turned into <see cref="FlashAttentionException"/>. Found through <see cref="PathVariable"/>, else beside the
/// application. Loaded once per process and never unloaded.
/// </summary>
internal sealed unsafe class FlashAttentionNative
{
    /// <summary>Environment variable with the library's path.</summary>
    public const string PathVariable = "PAGEDSIM_FLASH_LIB";

    /// <summary>The library's file name, looked for beside the application when <see cref="PathVariable"/> is unset.</summary>
    public const string FileName = "libpagedsim_flash.so";

    /// <summary>The <c>PSF_ABI_VERSION</c> this binding was written for.</summary>
    public const int AbiVersion = 2;

    private static readonly Lazy<(FlashAttentionNative? Native, FlashAttentionException? Error)> s_shared = new(LoadDefault);

    private readonly delegate* unmanaged<FlashArgs*, int, int*, long*, int> _plan;
    private readonly delegate* unmanaged<FlashArgs*, int> _forwardPaged, _forwardContiguous;
    private readonly delegate* unmanaged<nint> _lastError;

    private FlashAttentionNative(string path, nint handle)
    {
        Path = path;
        _plan = (delegate* unmanaged<FlashArgs*, int, int*, long*, int>)Export(handle, "psf_plan");
        _forwardPaged = (delegate* unmanaged<FlashArgs*, int>)Export(handle, "psf_fwd_paged");
        _forwardContiguous = (delegate* unmanaged<FlashArgs*, int>)Export(handle, "psf_fwd_contiguous");
        _lastError = (delegate* unmanaged<nint>)Export(handle, "psf_last_error");
        int version = ((delegate* unmanaged<int>)Export(handle, "psf_abi_version"))();
        int size = ((delegate* unmanaged<int>)Export(handle, "psf_args_size"))();
        if (version != AbiVersion || size != Marshal.SizeOf<FlashArgs>())
            throw new FlashAttentionException(FlashStatus.AbiMismatch,
                $"{path} has ABI version {version} (arguments of {size} bytes); this binding needs version {AbiVersion} ({Marshal.SizeOf<FlashArgs>()} bytes): rebuild native/");
    }

    /// <summary>Where the library was loaded from.</summary>
    public string Path { get; }

    /// <summary>The process-wide library; throws <see cref="FlashAttentionException"/> (LibraryNotFound, AbiMismatch) when unusable.</summary>
    public static FlashAttentionNative Shared => s_shared.Value.Native ?? throw s_shared.Value.Error!;

    /// <summary>Null when <see cref="Shared"/> loads, else the one-line reason it does not.</summary>
    public static string? UnavailableReason => s_shared.Value.Error?.Message;

    /// <summary>The path <see cref="Shared"/> uses: <see cref="PathVariable"/> if set, else <see cref="FileName"/> beside the application.</summary>
    public static string DefaultPath =>
        Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } path ? path : System.IO.Path.Combine(AppContext.BaseDirectory, FileName);

    /// <summary>Loads the library at <paramref name="path"/>.</summary>
    /// <exception cref="FlashAttentionException">Missing, not loadable, or of another ABI version.</exception>
    public static FlashAttentionNative Load(string path)
    {
        if (!File.Exists(path))
            throw new FlashAttentionException(FlashStatus.LibraryNotFound,
                $"native library {path} does not exist: build native/ (see docs/flash-attn.md), then set {PathVariable} to libpagedsim_flash.so or put it beside the application");
        nint handle;
        try
        {
            handle = NativeLibrary.Load(path);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new FlashAttentionException(FlashStatus.LibraryNotFound, $"native library {path} could not be loaded: {e.Message.Split('\n')[0]}", e);
        }
        return new FlashAttentionNative(path, handle);
    }

    /// <summary>psf_plan: the split count and workspace bytes a call with <paramref name="args"/> needs.</summary>
    public (int NumSplits, long WorkspaceBytes) Plan(in FlashArgs args, bool paged)
    {
        int splits;
        long bytes;
        fixed (FlashArgs* a = &args) Check(_plan(a, paged ? 1 : 0, &splits, &bytes));
        return (splits, bytes);
    }

    /// <summary>psf_fwd_paged; throws on any refusal or failure.</summary>
    public void ForwardPaged(in FlashArgs args)
    {
        fixed (FlashArgs* a = &args) Check(_forwardPaged(a));
    }

    /// <summary>psf_fwd_contiguous; throws on any refusal or failure.</summary>
    public void ForwardContiguous(in FlashArgs args)
    {
        fixed (FlashArgs* a = &args) Check(_forwardContiguous(a));
    }

    /// <summary>Throws the exception for a non-zero status, with the library's message (same thread, right after the call).</summary>
    private void Check(int status)
    {
        if (status == 0) return;
        string message = Marshal.PtrToStringUTF8(_lastError()) ?? "";
        FlashStatus code = Enum.IsDefined((FlashStatus)status) ? (FlashStatus)status : FlashStatus.Internal;
        throw new FlashAttentionException(code, message.Length > 0 ? message : $"status {status}");
    }

    private static (FlashAttentionNative?, FlashAttentionException?) LoadDefault()
    {
        try
        {
            return (Load(DefaultPath), null);
        }
        catch (FlashAttentionException e)
        {
            return (null, e);
        }
    }

    private static nint Export(nint handle, string name) =>
        NativeLibrary.TryGetExport(handle, name, out nint address) ? address
            : throw new FlashAttentionException(FlashStatus.AbiMismatch, $"the native library lacks {name}: rebuild native/");
}
