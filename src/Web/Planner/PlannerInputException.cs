namespace PagedSim.Web.Planner;

/// <summary>An input the planner cannot use: the message is the one line the page shows, naming the field.</summary>
public sealed class PlannerInputException(string message, Exception? inner = null) : Exception(message, inner);
