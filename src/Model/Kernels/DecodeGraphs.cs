using PagedSim.Model.Attention.Flash;
using PagedSim.Model.KvCache;
using static TorchSharp.torch;

namespace PagedSim.Model.Kernels;

/// <summary>
/// Decode passes (one new token per sequence) replayed as CUDA graphs, one graph per shape: batch size and block-table
/// width. A shape's first pass runs directly, its second is captured, and later ones replay the capture after copying
/// the step's inputs into the buffers the graph reads (<see cref="StepBuffers"/>, shared by every shape). A graph is
/// recaptured when any pointer it holds changes: weights, cache, scratch or the attention workspace reallocated.
/// </summary>
internal sealed class DecodeGraphs(FusedKernelsNative native) : IDisposable
{
    /// <summary>Graphs kept at most; the least recently used goes first (each holds a few hundred kernel nodes).</summary>
    public const int MaxGraphs = 128;

    private readonly Dictionary<(int Batch, int Columns), Entry> _entries = [];
    private StepBuffers? _buffers;
    private long _clock;

    /// <summary>Graphs captured so far (recaptures included).</summary>
    public int Captures { get; private set; }

    /// <summary>Passes run by replaying a graph.</summary>
    public int Replays { get; private set; }

    /// <summary>
    /// The input and output buffers of a decode pass of <paramref name="batch"/> sequences and a block table
    /// <paramref name="columns"/> wide, as views made in the caller's dispose scope. Growing them drops every graph.
    /// </summary>
    public DecodeStepViews Views(int batch, int columns, int dim, ScalarType dtype, Device device)
    {
        if (_buffers is not { } b || b.Batch < batch || b.TableEntries < (long)batch * columns || b.Residual.dtype != dtype || !FusedCudaKernels.OnDevice(b.Residual, device))
        {
            DropGraphs();
            _buffers?.Dispose();
            _buffers = null; // freed before the larger set is allocated
            b = _buffers = new StepBuffers(batch, (long)batch * columns, dim, dtype, device);
        }
        return new DecodeStepViews(
            b.Residual.narrow(0, 0, (long)batch * dim).view(batch, dim),
            b.Normed.narrow(0, 0, (long)batch * dim).view(batch, dim),
            b.Positions.narrow(0, 0, batch),
            b.Slots.narrow(0, 0, batch),
            b.SequenceLengths.narrow(0, 0, batch),
            b.BlockTable.narrow(0, 0, (long)batch * columns).view(batch, columns));
    }

    /// <summary>
    /// Runs the pass <paramref name="args"/> describes (its inputs pointing into <paramref name="views"/>) for the
    /// step's inputs: by replaying this shape's graph, else by capturing it (second pass of the shape), else directly.
    /// <paramref name="runDirectly"/> queues the pass without a graph; <paramref name="layers"/> are the weights' and
    /// the cache's pointers (a new array means new weights or a new cache).
    /// </summary>
    public unsafe void Run(NativeForwardArgs args, NativeLayer[] layers, DecodeStepViews views, KvStep step, Tensor embeddings, Action runDirectly)
    {
        var key = (step.BatchSize, (int)views.BlockTable.shape[1]);
        if (!_entries.TryGetValue(key, out Entry? entry)) _entries[key] = entry = new Entry();
        entry.Passes++;
        entry.LastUse = ++_clock;
        long[] signature = Signature(args);
        if (entry.Graph != 0 && !(ReferenceEquals(entry.Layers, layers) && entry.Signature.AsSpan().SequenceEqual(signature)))
            Drop(entry); // something it points to has moved
        if (entry.Graph == 0 && entry.Passes >= 2)
        {
            fixed (NativeLayer* layer = layers)
            {
                args.Layer = (nint)layer; // read while capturing only
                entry.Graph = native.CaptureGraph(args);
            }
            entry.Signature = signature;
            entry.Layers = layers;
            Captures++;
            EvictBeyond(MaxGraphs);
        }

        if (entry.Graph != 0)
        {
            native.LaunchGraph(entry.Graph, TensorPointer(embeddings), TensorPointer(step.Positions),
                TensorPointer(step.Slots), TensorPointer(step.SequenceLengths), TensorPointer(step.BlockTable), (int)step.BlockTable.shape[1]);
            Replays++;
            return;
        }
        // Without a graph: the same pass on the same buffers (this also loads the kernels a capture will record).
        views.Residual.copy_(embeddings);
        views.Positions.copy_(step.Positions.view(-1));
        views.Slots.copy_(step.Slots);
        views.SequenceLengths.copy_(step.SequenceLengths);
        views.BlockTable.narrow(1, 0, step.BlockTable.shape[1]).copy_(step.BlockTable);
        runDirectly();
    }

    /// <summary>Frees every graph and buffer.</summary>
    public void Dispose()
    {
        DropGraphs();
        _entries.Clear();
        _buffers?.Dispose();
        _buffers = null;
    }

    private void DropGraphs()
    {
        foreach (Entry e in _entries.Values) Drop(e);
    }

    private void Drop(Entry e)
    {
        if (e.Graph != 0) native.DestroyGraph(e.Graph); // a launch already queued still completes
        e.Graph = 0;
        e.Layers = null;
    }

    private void EvictBeyond(int limit)
    {
        var live = _entries.Values.Where(e => e.Graph != 0).OrderBy(e => e.LastUse).ToList();
        for (int i = 0; i < live.Count - limit; i++) Drop(live[i]);
    }

    // What a graph holds, field by field (a byte comparison would also compare the structs' padding, which copies
    // need not preserve): the arguments less what changes every step without being read by the kernels (the host
    // pointer of the pinned layer array, the longest sequence, which only host-side checks read) or is replaced.
    private static long[] Signature(in NativeForwardArgs a)
    {
        FlashArgs f = a.Attention;
        return
        [
            a.DType, a.Tokens, a.Dim, a.Heads, a.KvHeads, a.HeadDim, a.Hidden, a.Layers, BitConverter.SingleToInt32Bits(a.NormEps),
            a.FinalNorm, a.Residual, a.Normed, a.Qkv, a.Q, a.Attn, a.Delta, a.GateUp, a.Act, a.Positions, a.Slots, a.Rope, a.Paged,
            f.DType, f.Batch, f.SeqLenQ, f.NumHeads, f.NumHeadsK, f.HeadDim, f.Causal, BitConverter.SingleToInt32Bits(f.SoftmaxScale),
            f.Q, f.QBatchStride, f.QRowStride, f.QHeadStride, f.Out, f.OutBatchStride, f.OutRowStride, f.OutHeadStride,
            f.K, f.KBatchStride, f.KRowStride, f.KHeadStride, f.V, f.VBatchStride, f.VRowStride, f.VHeadStride, f.CacheBatch, f.CacheLen,
            f.BlockTable, f.BlockTableHost, f.BlockTableStride, f.MaxBlocksPerSeq, f.SeqLensK, f.SeqLensKHost,
            f.Workspace, f.WorkspaceBytes, f.NumSplits, f.Device,
        ];
    }

    private static nint TensorPointer(Tensor t) => Attention.Flash.TensorPointer.Of(t);

    private sealed class Entry
    {
        public int Passes;
        public long LastUse;
        public nint Graph;
        public long[] Signature = [];
        public object? Layers;
    }

    /// <summary>The buffers a captured pass reads its inputs from and writes its output to, flat, for up to <see cref="Batch"/> sequences.</summary>
    private sealed class StepBuffers : IDisposable
    {
        public StepBuffers(int batch, long tableEntries, int dim, ScalarType dtype, Device device)
        {
            Batch = batch;
            TableEntries = tableEntries;
            Residual = empty([(long)batch * dim], dtype, device).DetachFromDisposeScope();
            Normed = empty([(long)batch * dim], dtype, device).DetachFromDisposeScope();
            Positions = empty([batch], ScalarType.Int64, device).DetachFromDisposeScope();
            Slots = empty([batch], ScalarType.Int64, device).DetachFromDisposeScope();
            SequenceLengths = empty([batch], ScalarType.Int32, device).DetachFromDisposeScope();
            BlockTable = zeros([tableEntries], ScalarType.Int32, device).DetachFromDisposeScope();
        }

        public int Batch { get; }
        public long TableEntries { get; }
        public Tensor Residual { get; }
        public Tensor Normed { get; }
        public Tensor Positions { get; }
        public Tensor Slots { get; }
        public Tensor SequenceLengths { get; }
        public Tensor BlockTable { get; }

        public void Dispose()
        {
            foreach (Tensor t in new[] { Residual, Normed, Positions, Slots, SequenceLengths, BlockTable }) t.Dispose();
        }
    }
}
