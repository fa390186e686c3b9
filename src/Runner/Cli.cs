using System.CommandLine;

namespace PagedSim.Runner;

/// <summary>Runs the command line: parse errors and failures become one line on stderr and a non-zero exit.</summary>
internal static class Cli
{
    /// <summary>Exit code for bad input (arguments, files).</summary>
    public const int BadInput = 2;

    /// <summary>Exit code for a run that failed (e.g. out of memory).</summary>
    public const int Failed = 1;

    public static int Invoke(RootCommand root, string[] args)
    {
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"error: {error.Message}");
            Console.Error.WriteLine("Run with --help for usage.");
            return BadInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UserError e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("PAGEDSIM_DEBUG") != "1")
        {
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message.Split('\n')[0]} (set PAGEDSIM_DEBUG=1 for details)");
            return Failed;
        }
    }
}
