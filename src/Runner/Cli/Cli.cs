using System.CommandLine;
using System.CommandLine.Parsing;

namespace PagedSim.Runner;

/// <summary>
/// Runs the command line: picks the main job (<c>N [options]</c>) or a named command, and turns parse errors and
/// failures into one line on stderr and a non-zero exit.
/// </summary>
internal static class Cli
{
    /// <summary>Exit code for bad input (arguments, files).</summary>
    public const int BadInput = 2;

    /// <summary>Exit code for a run that failed (e.g. out of memory).</summary>
    public const int Failed = 1;

    /// <summary>The named commands, each built fresh (a command belongs to one parent).</summary>
    public static readonly IReadOnlyList<(string Name, Func<Command> Create)> Commands =
    [
        ("simulate", SimulateCommand.Create),
        ("trace", TraceCommand.Create),
        ("generate", GenerateCommand.Create),
        ("serve-trace", ServeTraceCommand.Create),
        ("bench-step", BenchStepCommand.Create),
    ];

    /// <summary>The program: <c>N [options]</c> runs the main job, <c>COMMAND [options]</c> a named command.</summary>
    public static int Run(string[] args)
    {
        // A named command gets a root without the main job's N, so its help shows only its own usage.
        if (args.Length > 0 && Commands.FirstOrDefault(c => c.Name == args[0]).Create is Func<Command> create)
        {
            var root = new RootCommand(Description) { create() };
            return Invoke(root, args);
        }
        if (args.Length > 0 && Unknown(args[0]) is string error)
        {
            Console.Error.WriteLine($"error: {error}");
            return BadInput;
        }
        RootCommand main = RunCommand.Create();
        foreach (var (_, make) in Commands) main.Subcommands.Add(make());
        return Invoke(main, args);
    }

    /// <summary>What the program does, for the root help.</summary>
    public const string Description = "PagedSim: PagedAttention KV-cache allocator, simulator and Llama 3 runner";

    public static int Invoke(RootCommand root, string[] args)
    {
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // System.CommandLine reports one mistake several ways; the first names it.
            ParseError first = parse.Errors[0];
            string? option = first.SymbolResult switch
            {
                OptionResult o => o.Option.Name,
                ArgumentResult { Parent: OptionResult o } => o.Option.Name,
                _ => null,
            };
            Console.Error.WriteLine($"error: {Reword(first.Message, parse.CommandResult.Command, root, option)}");
            return BadInput;
        }
        // N belongs to the main job: "5 trace" would otherwise run trace and drop the 5 silently.
        if (parse.CommandResult.Command != root && root.Arguments.Count > 0 && parse.GetResult(root.Arguments[0]) is { Implicit: false })
        {
            Console.Error.WriteLine($"error: N is the main job's request count; '{parse.CommandResult.Command.Name}' takes no N (run '{parse.CommandResult.Command.Name} --help')");
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

    /// <summary>A first word that is neither N, an option nor a command: say so, and suggest the nearest command.</summary>
    internal static string? Unknown(string first)
    {
        if (first.StartsWith('-') || int.TryParse(first, out _)) return null;
        if (long.TryParse(first, out _) || first.All(char.IsAsciiDigit))
            return $"N: '{first}' is too large for a request count";
        if (double.TryParse(first, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _))
            return $"N: '{first}' is not a whole number of requests";
        string names = string.Join(", ", Commands.Select(c => c.Name));
        string? near = Commands.Select(c => c.Name).MinBy(n => Distance(n, first.ToLowerInvariant()));
        bool close = near is not null && (Distance(near, first.ToLowerInvariant()) <= Math.Max(2, near.Length / 3) || near.StartsWith(first, StringComparison.OrdinalIgnoreCase));
        return close
            ? $"unknown command '{first}'; did you mean '{near}'? (commands: {names}; or a request count N for the main job)"
            : $"unknown command '{first}' (commands: {names}; or a request count N for the main job)";
    }

    /// <summary>System.CommandLine's messages, in the program's words where they leak .NET type names.</summary>
    private static string Reword(string message, Command command, RootCommand root, string? option)
    {
        // "Argument 'x' not recognized. Must be one of:\n\t'a'\n\t'b'" → "--opt: 'x' is not one of a, b"
        if (message.StartsWith("Argument '", StringComparison.Ordinal) && message.Contains("not recognized", StringComparison.Ordinal))
        {
            string given = message.Split('\'')[1];
            string[] choices = [.. message.Split('\n').Skip(1).Select(l => l.Trim().Trim('\''))];
            return $"{option ?? "argument"}: '{given}' is not one of {string.Join(", ", choices)}";
        }
        const string unrecognized = "Unrecognized command or argument '";
        if (message.StartsWith(unrecognized, StringComparison.Ordinal))
        {
            string token = message[unrecognized.Length..].TrimEnd('.', '\'');
            string where = command == root ? "the main job" : $"'{command.Name}'";
            if (token.StartsWith('-')) return $"unknown option '{token}' for {where} (run '{(command == root ? "" : command.Name + " ")}--help' for its options)";
            if (command != root && int.TryParse(token, out _))
                return $"'{command.Name}' takes no request count N ('{token}'){(command.Options.Any(o => o.Name == "--requests") ? $"; use --requests {token}" : "")}";
            return $"unexpected argument '{token}' for {where}";
        }
        const string marker = "as expected type '";
        int at = message.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return message;
        string type = message[(at + marker.Length)..].TrimEnd('.', '\'');
        string expected = type switch
        {
            "System.Int32" or "System.Nullable`1[System.Int32]" or "System.Int64" => "a whole number",
            "System.Double" => "a number",
            _ => "a value of another kind",
        };
        // "Cannot parse argument 'x' for option '--steps' as expected type 'System.Int32'." → "--steps: 'x' is not a whole number"
        string head = message[..at].Trim();
        string? name = option ?? (head.Contains("for option '") ? head.Split("for option '")[1].TrimEnd('\'', ' ')
            : head.Contains("for command '") ? "N" : null);
        string value = head.Split('\'').ElementAtOrDefault(1) ?? "";
        return name is null ? $"'{value}' is not {expected}" : $"{name}: '{value}' is not {expected}";
    }

    /// <summary>Levenshtein distance, for "did you mean".</summary>
    private static int Distance(string a, string b)
    {
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) row[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
