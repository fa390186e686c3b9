using System.Text;
using FsCheck;
using FsCheck.Fluent;
using PagedSim.Golden.Tests.Gguf;
using PagedSim.Model;
using PagedSim.Model.Checkpoints;
using PagedSim.Model.Tokenization;
using PagedSim.Tests.Shared;
using static TorchSharp.torch;

namespace PagedSim.Golden.Tests.Untrusted;

/// <summary>
/// Untrusted checkpoints: 1,000 corruptions per format of a valid small file (stories260K.gguf, a tiny-llama
/// safetensors shard, the tiny-llama consolidated.00.pth): truncations, flipped bytes, absurd counts, lengths,
/// dimensions and offsets, bad UTF-8, deleted ranges, forged numbers in JSON. Each loads, or is refused with one line
/// naming the file; none crashes, throws anything else, or allocates beyond a small multiple of the file.
/// </summary>
public sealed class UntrustedFileProperties(ITestOutputHelper output) : IDisposable
{
    private const int Cases = 1000;
    private readonly string _dir = Directory.CreateTempSubdirectory("pagedsim-untrusted-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CorruptedGgufIsRefusedInOneLine()
    {
        byte[] valid = File.ReadAllBytes(Stories260K.Path);
        GgufFile parsed = GgufFile.Open(Stories260K.Path);
        var fields = new List<int> { 4, 8, 12, 16, 20 };
        foreach (string key in parsed.Metadata.Keys) AddAfter(valid, key, fields, [0, 4, 8, 12]);
        foreach (string name in parsed.Tensors.Keys) AddAfter(valid, name, fields, [-8, 0, 4, 12, 20, 24, 28]);
        Run("gguf", valid, Corruption.Of(valid.Length, (int)parsed.DataStart, fields), path =>
        {
            Llama3Weights.Load(path, CPU, ScalarType.Float32).Weights.Dispose();
            GgufTokenizer.Load(path);
        });
    }

    [Fact]
    public void CorruptedSafetensorsIsRefusedInOneLine()
    {
        string source = Directory.GetFiles(Path.Combine(TinyLlamaFixture.Root, "hf"), "*.safetensors").Order().First();
        byte[] valid = File.ReadAllBytes(source);
        int headerEnd = 8 + (int)BitConverter.ToInt64(valid);
        var fields = new List<int> { 0, 4 };
        for (int i = 8; i < headerEnd; i++)
            if (valid[i] == (byte)'[') fields.Add(i + 1); // shapes and data_offsets
        Run("safetensors", valid, Corruption.Of(valid.Length, headerEnd, fields), path =>
        {
            SafetensorsFile file = SafetensorsFile.Open(path);
            foreach (string name in file.Names.ToArray()) file.Read(name).Dispose();
        });
    }

    [Fact]
    public void CorruptedPthIsRefusedInOneLine()
    {
        string metaDir = Path.Combine(TinyLlamaFixture.Root, "meta");
        byte[] valid = File.ReadAllBytes(Path.Combine(metaDir, "consolidated.00.pth"));
        string checkpointDir = Directory.CreateDirectory(Path.Combine(_dir, "meta")).FullName;
        File.Copy(Path.Combine(metaDir, "params.json"), Path.Combine(checkpointDir, "params.json"));
        Llama3Config config = TinyGguf.Config;
        // data.pkl comes first in torch's zip: its integers (BININT1/2/4: sizes, strides, numel) are the fields.
        var fields = new List<int>();
        for (int i = 0; i < 8192 && i < valid.Length; i++)
            if (valid[i] is (byte)'K' or (byte)'M' or (byte)'J') fields.Add(i + 1);
        Run(Path.Combine("meta", "consolidated.00.pth"), valid, Corruption.Of(valid.Length, 8192, fields, tail: 4096), _ =>
        {
            foreach (Tensor t in MetaCheckpoint.Read(checkpointDir, config).Values) t.Dispose();
        });
    }

    private void Run(string fileName, byte[] valid, Arbitrary<Corruption> corruptions, Action<string> load)
    {
        // Warm up on the valid file (first calls load native libraries and JIT code, which allocates), and check it loads.
        Assert.True(UntrustedLoad.Holds(_dir, fileName, valid, load, out string first), first);
        Assert.Equal("loaded", first);
        int loaded = 0, refused = 0;
        var messages = new Dictionary<string, int>();
        FsCheck.Property claim = Prop.ForAll(corruptions, (Corruption c) =>
        {
            bool ok = UntrustedLoad.Holds(_dir, fileName, c.Apply(valid), load, out string why);
            if (!ok) output.WriteLine($"{c}: {why}");
            if (why == "loaded") loaded++;
            else
            {
                refused++;
                string kind = why[(why.IndexOf(": ", StringComparison.Ordinal) + 2)..];
                kind = kind.Length > 40 ? kind[..40] : kind;
                messages[kind] = messages.GetValueOrDefault(kind) + 1;
            }
            return ok;
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(Cases), claim);
        output.WriteLine($"{fileName}: {loaded} corrupted copies still loaded, {refused} refused; most common refusals:");
        foreach ((string m, int n) in messages.OrderByDescending(x => x.Value).Take(12)) output.WriteLine($"  {n,4} {m}");
        Assert.Equal(Cases, loaded + refused);
        Assert.True(refused > Cases / 3, $"only {refused} of {Cases} corruptions were refused: the generator misses the structure");
    }

    private static void AddAfter(byte[] file, string text, List<int> fields, int[] deltas)
    {
        byte[] needle = Encoding.UTF8.GetBytes(text);
        int at = file.AsSpan().IndexOf(needle);
        if (at < 0) return;
        foreach (int d in deltas)
        {
            int p = at + needle.Length + d;
            if (p >= 0 && p < file.Length) fields.Add(p);
        }
    }
}
