using System.CommandLine;

namespace PagedSim.Runner;

/// <summary>PLACEHOLDER: replaced by the real command.</summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var command = new Command("simulate");
        command.SetAction(_ => { Console.Error.WriteLine("not yet implemented"); return 1; });
        return command;
    }
}
