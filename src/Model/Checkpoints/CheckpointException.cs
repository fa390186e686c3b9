namespace PagedSim.Model.Checkpoints;

/// <summary>
/// A checkpoint or config that cannot be loaded. The message is one line naming the file (and tensor, where there is
/// one) and what is wrong: a missing key, an unexpected shape or dtype, a truncated or malformed file.
/// </summary>
public sealed class CheckpointException : Exception
{
    /// <summary>Creates the exception; control characters (a corrupted file's names can hold any byte) are escaped so
    /// the message stays one line.</summary>
    public CheckpointException(string message, Exception? inner = null) : base(OneLine.Escape(message), inner) { }
}
