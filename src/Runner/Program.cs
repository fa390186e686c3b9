using System.CommandLine;
using PagedSim.Runner;

// One file per command; this file only wires them together and turns failures into one clear line.
var root = RunCommand.Create();
root.Subcommands.Add(SimulateCommand.Create());
root.Subcommands.Add(TraceCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ServeTraceCommand.Create());
root.Subcommands.Add(BenchStepCommand.Create());
return Cli.Invoke(root, args);
