using PagedSim.Model.Attention;
using PagedSim.Model.Attention.Flash;
using PagedSim.Model.KvCache;
using TorchSharp;
using static TorchSharp.torch;

namespace PagedSim.Gpu.Tests;

/// <summary>Arguments the kernel cannot take are refused with the documented <see cref="FlashStatus"/>, never run.</summary>
public class FlashAttentionErrorTests
{
    [Fact]
    public void MissingLibraryNamesThePathAndTheVariable()
    {
        // Needs no GPU: loading fails before any device work.
        string path = Path.Combine(Path.GetTempPath(), "no-such-dir", "libpagedsim_flash.so");
        var e = Assert.Throws<FlashAttentionException>(() => FlashAttentionNative.Load(path));
        Assert.Equal(FlashStatus.LibraryNotFound, e.Status);
        Assert.Contains(path, e.Message);
        Assert.Contains(FlashAttentionNative.PathVariable, e.Message);
    }

    [Fact]
    public void HeadDim64IsRefused() =>
        Refused(FlashStatus.HeadDim, headDim: 64);

    [Fact]
    public void BlockSize128IsRefused() =>
        Refused(FlashStatus.PageSize, blockSize: 128);

    [Fact]
    public void Float32IsRefused() =>
        Refused(FlashStatus.DType, dtype: ScalarType.Float32);

    [Fact]
    public void KvHeadsNotDividingHeadsAreRefused() =>
        Refused(FlashStatus.Shape, heads: 32, kvHeads: 6);

    [Fact]
    public void LengthBeyondTheBlockTableIsRefused() =>
        Refused(FlashStatus.SequenceLength, change: a => a with { MaxSequenceLength = 3 * 256 + 1 });

    [Fact]
    public void CausalChunkLongerThanItsSequenceIsRefused() =>
        Refused(FlashStatus.SequenceLength, queryLength: 8, causal: true, change: a => a with { MaxSequenceLength = 4 });

    [Fact]
    public void NonContiguousHeadDimIsRefused() =>
        Refused(FlashStatus.Stride, change: a => a with { Query = a.Query.flip(3).transpose(2, 3).contiguous().transpose(2, 3) });

    [Fact]
    public void OutputOfAnotherShapeIsRefused() =>
        Refused(FlashStatus.Shape, output: q => zeros([q.shape[0], q.shape[1] + 1, q.shape[2], q.shape[3]], q.dtype, q.device));

    [Fact]
    public void CpuTensorsAreRefused() =>
        Refused(FlashStatus.Device, change: a => a with { Query = a.Query.cpu() });

    [Fact]
    public void ContiguousCacheRowsMustBeInt32() =>
        Refused(FlashStatus.BlockTable, change: a => a with
        {
            Kind = KvCacheKind.Contiguous,
            KeyCache = a.KeyCache.narrow(0, 0, 2),
            ValueCache = a.ValueCache.narrow(0, 0, 2),
            BlockTable = a.BlockTable.narrow(1, 0, 1).to(ScalarType.Int64),
        });

    private static void Refused(FlashStatus expected, int headDim = 128, int blockSize = 256, ScalarType? dtype = null,
        int heads = 32, int kvHeads = 8, int queryLength = 1, bool causal = false,
        Func<AttentionInputs, AttentionInputs>? change = null, Func<Tensor, Tensor>? output = null)
    {
        FlashAvailability.SkipUnlessAvailable();
        // Valid lengths for the shape; the case's change makes the call invalid.
        int[] lengths = [Math.Max(queryLength, 300), 3 * blockSize];
        using var batch = new FlashTestBatch(lengths, queryLength, heads, kvHeads, blockSize, dtype ?? ScalarType.BFloat16, seed: 11, headDim);
        using var scope = NewDisposeScope();
        AttentionInputs inputs = batch.Paged(causal);
        if (change is not null) inputs = change(inputs);
        Tensor result = output?.Invoke(inputs.Query) ?? zeros_like(inputs.Query);
        using var flash = new FlashAttentionBackend();
        var e = Assert.Throws<FlashAttentionException>(() => flash.Forward(inputs, result));
        Assert.Equal(expected, e.Status);
        Assert.DoesNotContain('\n', e.Message);
    }
}
