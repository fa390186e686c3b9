using Spectre.Console;

namespace PagedSim.Runner;

/// <summary>
/// Progress of a long run: on a terminal, one live status line (Spectre.Console); when output is redirected, a plain
/// line on the log writer at most every few seconds.
/// </summary>
internal sealed class ProgressDisplay(bool interactive, TextWriter log)
{
    private const double PlainIntervalSeconds = 5;

    /// <summary>Terminal when neither stdout nor stderr is redirected.</summary>
    public static bool IsTerminal => !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/>, giving it a callback for status text.</summary>
    public T Run<T>(string title, Func<Action<string>, T> work)
    {
        if (interactive)
        {
            return AnsiConsole.Status().Spinner(Spinner.Known.Dots).Start(Markup.Escape(title),
                ctx => work(text => ctx.Status(Markup.Escape($"{title}: {text}"))));
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double last = double.NegativeInfinity;
        return work(text =>
        {
            double now = clock.Elapsed.TotalSeconds;
            if (now - last < PlainIntervalSeconds) return;
            last = now;
            log.WriteLine($"{title}: {text}");
        });
    }
}
