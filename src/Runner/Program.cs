using PagedSim.Runner;

// One folder per command; Cli wires them together and turns failures into one clear line.
return Cli.Run(args);
