using System.IO.Compression;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// Checks a PyTorch <c>.pth</c> file (a zip holding <c>data.pkl</c> and one <c>data/KEY</c> entry per storage) before
/// TorchSharp.PyBridge unpickles it: the zip's structure, the pickle (see <see cref="PickleScanner"/>), and for every
/// tensor that its storage entry exists and holds the bytes its shape, stride and offset need. PyBridge allocates each
/// tensor's full shape before reading it, so without this check a hostile header could make it allocate anything.
/// </summary>
internal static class PthArchive
{
    /// <summary>Largest data.pkl accepted (Llama 3 405B's is well under 1 MB).</summary>
    private const long MaxPickleBytes = 64 << 20;

    /// <summary>Throws <see cref="CheckpointException"/> (one line naming the file) unless the checks pass.</summary>
    public static void Validate(string path)
    {
        long fileLength = new FileInfo(path).Length;
        try
        {
            using ZipArchive zip = ZipFile.OpenRead(path);
            ZipArchiveEntry pkl = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') <= 1)
                ?? throw Fail(path, "not a PyTorch checkpoint (no data.pkl in the zip)");
            if (pkl.Length > MaxPickleBytes || pkl.Length > fileLength * 1024)
                throw Fail(path, $"data.pkl claims {pkl.Length} bytes");
            string prefix = pkl.FullName[..^"data.pkl".Length];
            byte[] pickle = new byte[pkl.Length];
            using (Stream s = pkl.Open()) s.ReadExactly(pickle);
            var entries = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
            foreach (ZipArchiveEntry e in zip.Entries) entries[e.FullName] = e;
            foreach (PickleScanner.TensorRef t in PickleScanner.Scan(pickle)) Check(path, fileLength, prefix, entries, t);
        }
        catch (InvalidDataException e)
        {
            throw Fail(path, $"truncated or corrupt PyTorch checkpoint ({e.Message.Split('\n')[0]})");
        }
        catch (EndOfStreamException)
        {
            throw Fail(path, "truncated PyTorch checkpoint");
        }
        catch (Exception e) when (e is not CheckpointException)
        {
            throw Fail(path, $"unreadable PyTorch checkpoint ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
        }
    }

    private static void Check(string path, long fileLength, string prefix, Dictionary<string, ZipArchiveEntry> entries, PickleScanner.TensorRef t)
    {
        long size = t.Storage.Type switch
        {
            "DoubleStorage" or "LongStorage" => 8,
            "FloatStorage" or "IntStorage" => 4,
            "HalfStorage" or "BFloat16Storage" or "ShortStorage" => 2,
            "CharStorage" or "ByteStorage" or "BoolStorage" => 1,
            _ => throw Fail(path, $"storage {t.Storage.Key} has unsupported type {t.Storage.Type}"),
        };
        string name = prefix + "data/" + t.Storage.Key;
        if (!entries.TryGetValue(name, out ZipArchiveEntry? entry)) throw Fail(path, $"storage {t.Storage.Key} has no {name} entry");
        // torch stores entries uncompressed: an entry cannot hold more than the file.
        if (entry.Length > fileLength) throw Fail(path, $"entry {name} claims {entry.Length} bytes, more than the file");
        if (t.Storage.Elements > entry.Length / size)
            throw Fail(path, $"storage {t.Storage.Key} claims {t.Storage.Elements} elements but {name} holds {entry.Length} bytes");
        if (t.Shape.Length != t.Stride.Length || t.Shape.Length > 8 || t.Offset < 0)
            throw Fail(path, $"a tensor of storage {t.Storage.Key} has malformed size/stride/offset");
        long elements = 1, extent = t.Offset;
        for (int i = 0; i < t.Shape.Length; i++)
        {
            long d = t.Shape[i], s = t.Stride[i];
            if (d < 0 || s < 0 || (d > 0 && elements > t.Storage.Elements / d))
                throw Fail(path, $"a tensor of storage {t.Storage.Key} has size [{string.Join(", ", t.Shape)}], more than its {t.Storage.Elements} elements");
            elements *= d;
            if (d > 0 && s > 0 && (d - 1) > (t.Storage.Elements - extent) / s)
                throw Fail(path, $"a tensor of storage {t.Storage.Key} reaches past its {t.Storage.Elements} elements");
            if (d > 0) extent += (d - 1) * s;
        }
        if (elements > 0 && extent >= t.Storage.Elements)
            throw Fail(path, $"a tensor of storage {t.Storage.Key} reaches past its {t.Storage.Elements} elements");
    }

    private static CheckpointException Fail(string path, string why) => new($"{path}: {why}");
}
