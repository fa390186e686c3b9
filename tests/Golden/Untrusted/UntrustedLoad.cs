using System.Diagnostics;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Tokenization;

namespace PagedSim.Golden.Tests.Untrusted;

/// <summary>
/// Runs a loader on a corrupted copy of a valid file and states what must hold: it loads, or it throws a
/// <see cref="CheckpointException"/> whose message is one line naming the file; nothing else (no other exception,
/// no crash), and the managed memory it allocates stays within a small multiple of the file's size.
/// </summary>
internal static class UntrustedLoad
{
    /// <summary>Peak process memory allowed over all cases (the fixtures are a few MB; an absurd claim would be GBs).</summary>
    public const long PeakWorkingSetLimit = 6L << 30;

    public static bool Holds(string dir, string fileName, byte[] bytes, Action<string> load, out string why)
    {
        string path = Path.Combine(dir, fileName);
        File.WriteAllBytes(path, bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            load(path);
            why = "loaded";
        }
        catch (CheckpointException e)
        {
            why = e.Message;
            if (e.Message.Contains('\n') || !e.Message.StartsWith(path, StringComparison.Ordinal)) return Fail(out why, $"not one line naming the file: {e.Message}");
        }
        catch (TokenizerLoadException e)
        {
            why = e.Message;
            if (e.Message.Contains('\n') || !e.Message.StartsWith(path, StringComparison.Ordinal)) return Fail(out why, $"not one line naming the file: {e.Message}");
        }
        catch (Exception e)
        {
            return Fail(out why, $"{e.GetType().Name}: {e.Message}");
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > 16L * bytes.Length + (64 << 20)) return Fail(out why, $"allocated {allocated} bytes for a {bytes.Length}-byte file");
        if (Process.GetCurrentProcess().PeakWorkingSet64 > PeakWorkingSetLimit) return Fail(out why, "peak working set over the limit");
        return true;
    }

    private static bool Fail(out string why, string message)
    {
        why = message;
        return false;
    }
}
