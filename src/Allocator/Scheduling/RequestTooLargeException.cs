namespace PagedSim.Allocator.Scheduling;

/// <summary>A request can never run: even alone, its blocks (plus the watermark) exceed the whole pool.</summary>
public sealed class RequestTooLargeException(int request, int tokens, int blocksNeeded, int totalBlocks)
    : InvalidOperationException($"Request {request} needs {blocksNeeded} block(s) for {tokens} tokens (watermark included) but the pool has only {totalBlocks}.")
{
    /// <summary>The request's number.</summary>
    public int Request { get; } = request;
}
