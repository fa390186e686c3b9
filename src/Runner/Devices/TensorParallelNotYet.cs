using System.CommandLine;

namespace PagedSim.Runner;

/// <summary>
/// <c>--tp N</c> on commands whose loop is not tensor-parallel yet (serve-trace): accepted so every
/// command takes the option, and refused in one line unless it is 1 (generate --tp N runs tensor-parallel).
/// </summary>
internal static class TensorParallelNotYet
{
    /// <summary>The option, added to <paramref name="command"/>.</summary>
    public static Option<int> AddTo(Command command)
    {
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel ranks: only 1 here yet (generate --tp N runs tensor-parallel; docs/tensor-parallel.md).", DefaultValueFactory = _ => 1 };
        command.Options.Add(tp);
        return tp;
    }

    /// <summary>Throws <see cref="UserError"/> unless <paramref name="tp"/> is 1; returns 0 (so it can lead an action: <c>Check(…) + Run(…)</c>).</summary>
    public static int Check(int tp, string command) => tp == 1 ? 0
        : throw new UserError($"--tp {tp}: tensor parallelism is not yet wired into {command} (generate --tp N runs it; docs/tensor-parallel.md)");
}
