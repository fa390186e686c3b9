using System.IO.Compression;
using PagedSim.Golden.Tests.Gguf;
using PagedSim.Model;
using PagedSim.Model.Checkpoints;
using PagedSim.Runner;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Untrusted;

/// <summary>
/// Forged files, each aimed at one check: the refusal names the file and the problem in one line, and comes from
/// the validation that runs before any tensor is created (its wording proves which check refused).
/// </summary>
public sealed class HostileFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Header(ulong tensors, ulong kvs) =>
        [.. "GGUF"u8, .. BitConverter.GetBytes(3u), .. BitConverter.GetBytes(tensors), .. BitConverter.GetBytes(kvs)];

    private static byte[] Str(string s) => [.. BitConverter.GetBytes((ulong)s.Length), .. System.Text.Encoding.UTF8.GetBytes(s)];

    private static byte[] TensorInfo(byte[] name, ulong[] dims, uint type, ulong offset) =>
        [.. BitConverter.GetBytes((ulong)name.Length), .. name, .. BitConverter.GetBytes((uint)dims.Length),
            .. dims.SelectMany(BitConverter.GetBytes), .. BitConverter.GetBytes(type), .. BitConverter.GetBytes(offset)];

    public static TheoryData<string, string> GgufCases => new()
    {
        { "absurd-count", "tensor count 1152921504606846976 cannot fit" },
        { "absurd-kv", "metadata count 18446744073709551615 is absurd" },
        { "overflow", "the element count overflows" },
        { "past-end", "ends past the end of the file" },
        { "unknown-type", "has type Q4_K; supported: F32, F16, BF16, Q8_0" },
        { "bad-utf8", "tensor name 0 is not valid UTF-8" },
        { "huge-string", "truncated GGUF file: metadata key 0 needs" },
        { "huge-array", "claims 1000000000000 elements, more than the file holds" },
        { "truncated", "truncated GGUF file" },
    };

    [Theory]
    [MemberData(nameof(GgufCases))]
    public void ForgedGgufIsRefusedBeforeAnyTensor(string forgery, string expected)
    {
        byte[] bytes = forgery switch
        {
            "absurd-count" => [.. Header(1UL << 60, 0), .. new byte[64]],
            "absurd-kv" => [.. Header(0, ulong.MaxValue), .. new byte[64]],
            "overflow" => [.. Header(1, 0), .. TensorInfo("w"u8.ToArray(), [1UL << 40, 1UL << 40], 0, 0), .. new byte[64]],
            "past-end" => [.. Header(1, 0), .. TensorInfo("w"u8.ToArray(), [1024, 1024], 0, 0), .. new byte[64]],
            "unknown-type" => [.. Header(1, 0), .. TensorInfo("w"u8.ToArray(), [256], 12, 0), .. new byte[1024]],
            "bad-utf8" => [.. Header(1, 0), .. TensorInfo([0x77, 0xFF, 0xFE], [4], 0, 0), .. new byte[64]],
            "huge-string" => [.. Header(0, 1), .. BitConverter.GetBytes(1UL << 50), .. new byte[64]],
            "huge-array" => [.. Header(0, 1), .. Str("k"), .. BitConverter.GetBytes(9u), .. BitConverter.GetBytes(0u), .. BitConverter.GetBytes(1_000_000_000_000UL), .. new byte[64]],
            _ => File.ReadAllBytes(Stories260K.Path)[..5000],
        };
        string path = Write($"{forgery}.gguf", bytes);

        var e = Assert.Throws<CheckpointException>(() => Llama3.Load(path, CPU).Dispose());

        Assert.StartsWith($"{path}: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ForgedGgufThroughTheRunnerIsExitTwoWithOneLine()
    {
        string path = Write("forged.gguf", [.. Header(1UL << 60, 0), .. new byte[64]]);
        var e = Assert.Throws<UserError>(() => GenerateCommand.Run(new GenerateSettings(path, null, ["hi"], 4, "paged", 16, "cpu", null,
            PagedSim.Model.Generation.SamplingOptions.Greedy, PagedSim.Model.Generation.PrefillMode.Whole, null), new StringWriter()));
        Assert.Equal(2, e.ExitCode);
        Assert.StartsWith($"{path}: tensor count", e.Message);
    }

    [Fact]
    public void PthClaimingAHugeShapeIsRefusedBeforePyBridgeAllocates()
    {
        // The tiny checkpoint with every 512 in data.pkl (BININT2 00 02: the model width in sizes and strides)
        // forged to 2^31-1, rewritten as a valid zip: a header claiming tensors of terabytes.
        string dir = Directory.CreateDirectory(Path.Combine(_dir, "meta")).FullName;
        File.Copy(Path.Combine(TinyLlamaFixture.Root, "meta", "params.json"), Path.Combine(dir, "params.json"));
        string pth = Path.Combine(dir, "consolidated.00.pth");
        File.Copy(Path.Combine(TinyLlamaFixture.Root, "meta", "consolidated.00.pth"), pth);
        using (ZipArchive zip = ZipFile.Open(pth, ZipArchiveMode.Update))
        {
            ZipArchiveEntry entry = zip.Entries.Single(x => x.FullName.EndsWith("data.pkl", StringComparison.Ordinal));
            byte[] pickle;
            using (var ms = new MemoryStream())
            {
                using (Stream s = entry.Open()) s.CopyTo(ms);
                pickle = ms.ToArray();
            }
            var forged = new List<byte>();
            for (int i = 0; i < pickle.Length; i++)
            {
                if (pickle[i] == (byte)'M' && i + 2 < pickle.Length && pickle[i + 1] == 0x00 && pickle[i + 2] == 0x02)
                {
                    forged.AddRange([(byte)'J', 0xFF, 0xFF, 0xFF, 0x7F]);
                    i += 2;
                }
                else forged.Add(pickle[i]);
            }
            Assert.NotEqual(pickle.Length, forged.Count);
            string name = entry.FullName;
            entry.Delete();
            using Stream w = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
            w.Write(forged.ToArray());
        }

        var e = Assert.Throws<CheckpointException>(() => Llama3.Load(dir, CPU).Dispose());

        Assert.StartsWith($"{pth}: a tensor of storage ", e.Message); // PthArchive's check, not PyBridge's failure
        Assert.True(e.Message.Contains("more than its", StringComparison.Ordinal) || e.Message.Contains("reaches past", StringComparison.Ordinal), e.Message);
    }

    [Fact]
    public void SafetensorsClaimingAnOverflowingShapeIsRefusedBeforeAllocation()
    {
        string header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}";
        byte[] h = System.Text.Encoding.UTF8.GetBytes(header);
        string path = Write("w.safetensors", [.. BitConverter.GetBytes((long)h.Length), .. h, .. new byte[16]]);
        SafetensorsFile file = SafetensorsFile.Open(path);
        var e = Assert.Throws<CheckpointException>(() => file.Read("w"));
        Assert.Equal($"{path}: tensor 'w' has impossible shape [4611686018427387904, 4]", e.Message);
    }
}
