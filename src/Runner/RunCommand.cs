using System.CommandLine;

namespace PagedSim.Runner;

/// <summary>PLACEHOLDER: replaced by the real command.</summary>
internal static class RunCommand
{
    public static RootCommand Create()
    {
        var command = new RootCommand("PagedSim");
        command.SetAction(_ => { Console.Error.WriteLine("not yet implemented"); return 1; });
        return command;
    }
}
