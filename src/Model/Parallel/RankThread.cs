using System.Collections.Concurrent;

namespace PagedSim.Model.Parallel;

/// <summary>
/// A dedicated thread that runs one tensor-parallel rank's work items in order. Dedicated rather than pooled: a rank
/// blocks inside collectives until the others arrive, which would starve a small thread pool, and each rank keeps its
/// thread-local TorchSharp state (dispose scopes, inference mode) on one thread for the life of the group.
/// </summary>
internal sealed class RankThread : IDisposable
{
    private readonly BlockingCollection<(Action Work, TaskCompletionSource Done)> _queue = new();
    private readonly Thread _thread;

    public RankThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Queues <paramref name="work"/>; the task completes (or faults with its exception) when it has run.</summary>
    public Task Run(Action work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add((work, done));
        return done.Task;
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        _thread.Join();
        _queue.Dispose();
    }

    private void Loop()
    {
        foreach ((Action work, TaskCompletionSource done) in _queue.GetConsumingEnumerable())
        {
            try
            {
                work();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }
    }
}
