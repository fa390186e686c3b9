namespace PagedSim.Model.Generation;

/// <summary>Why a request stopped generating.</summary>
public enum FinishReason
{
    /// <summary>It produced one of its stop tokens.</summary>
    Stop,

    /// <summary>It reached its maximum number of new tokens.</summary>
    Length,
}
