using System.Buffers.Binary;
using System.Text;

namespace PagedSim.Model.Checkpoints;

/// <summary>
/// A minimal pickle machine (protocols 2–5) that only follows what a PyTorch state dict needs, to find every tensor
/// a <c>data.pkl</c> would rebuild — its storage (type, archive key, element count), offset, shape and stride —
/// without creating anything. Every length it reads is checked against the pickle's size, and opcodes it does not
/// know (anything that could run code beyond torch's and collections' rebuild functions) are refused.
/// </summary>
internal static class PickleScanner
{
    /// <summary>A storage reference from <c>persistent_load</c>: <c>('storage', torch.XStorage, key, location, numel)</c>.</summary>
    public sealed record Storage(string Type, string Key, long Elements);

    /// <summary>One <c>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)</c> call.</summary>
    public sealed record TensorRef(Storage Storage, long Offset, long[] Shape, long[] Stride);

    private sealed record Global(string Module, string Name);

    private sealed class Mark;

    private static readonly Mark s_mark = new();

    /// <summary>The tensors <paramref name="pickle"/> rebuilds; throws <see cref="InvalidDataException"/> saying what is wrong.</summary>
    public static List<TensorRef> Scan(ReadOnlySpan<byte> pickle)
    {
        var stack = new List<object?>();
        var memo = new Dictionary<long, object?>();
        var tensors = new List<TensorRef>();
        int pos = 0;
        while (true)
        {
            if (pos >= pickle.Length) throw new InvalidDataException("pickle ends without STOP");
            byte op = pickle[pos++];
            switch (op)
            {
                case 0x80: Take(pickle, ref pos, 1); break; // PROTO
                case 0x95: Take(pickle, ref pos, 8); break; // FRAME
                case (byte)'.': return tensors; // STOP
                case (byte)'(': stack.Add(s_mark); break; // MARK
                case (byte)'}': stack.Add(new Dictionary<object, object?>()); break; // EMPTY_DICT
                case (byte)']': stack.Add(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': stack.Add(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case 0x8f: stack.Add(new List<object?>()); break; // EMPTY_SET
                case (byte)'N': stack.Add(null); break; // NONE
                case 0x88: stack.Add(true); break; // NEWTRUE
                case 0x89: stack.Add(false); break; // NEWFALSE
                case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Take(pickle, ref pos, 4))); break; // BININT
                case (byte)'K': stack.Add((long)Take(pickle, ref pos, 1)[0]); break; // BININT1
                case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(pickle, ref pos, 2))); break; // BININT2
                case 0x8a: stack.Add(Long(Take(pickle, ref pos, Take(pickle, ref pos, 1)[0]))); break; // LONG1
                case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Take(pickle, ref pos, 8))); break; // BINFLOAT
                case (byte)'X': stack.Add(Utf8(Take(pickle, ref pos, Length(Take(pickle, ref pos, 4))))); break; // BINUNICODE
                case 0x8c: stack.Add(Utf8(Take(pickle, ref pos, Take(pickle, ref pos, 1)[0]))); break; // SHORT_BINUNICODE
                case (byte)'B': stack.Add(Take(pickle, ref pos, Length(Take(pickle, ref pos, 4))).ToArray()); break; // BINBYTES
                case (byte)'C': stack.Add(Take(pickle, ref pos, Take(pickle, ref pos, 1)[0]).ToArray()); break; // SHORT_BINBYTES
                case (byte)'q': memo[Take(pickle, ref pos, 1)[0]] = Top(stack); break; // BINPUT
                case (byte)'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, ref pos, 4))] = Top(stack); break; // LONG_BINPUT
                case 0x94: memo[memo.Count] = Top(stack); break; // MEMOIZE
                case (byte)'h': stack.Add(Get(memo, Take(pickle, ref pos, 1)[0])); break; // BINGET
                case (byte)'j': stack.Add(Get(memo, BinaryPrimitives.ReadUInt32LittleEndian(Take(pickle, ref pos, 4)))); break; // LONG_BINGET
                case (byte)'0': Pop(stack); break; // POP
                case (byte)'2': stack.Add(Top(stack)); break; // DUP
                case (byte)'1': PopMark(stack); break; // POP_MARK
                case (byte)'t': stack.Add(PopMark(stack)); break; // TUPLE
                case 0x85: stack.Add(new[] { Pop(stack) }); break; // TUPLE1
                case 0x86: { object? b = Pop(stack), a = Pop(stack); stack.Add(new[] { a, b }); break; } // TUPLE2
                case 0x87: { object? c = Pop(stack), b = Pop(stack), a = Pop(stack); stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'l': stack.Add(PopMark(stack).ToList()); break; // LIST
                case (byte)'a': { object? v = Pop(stack); AsList(Top(stack)).Add(v); break; } // APPEND
                case (byte)'e': { object?[] items = PopMark(stack); AsList(Top(stack)).AddRange(items); break; } // APPENDS
                case 0x90: { object?[] items = PopMark(stack); AsList(Top(stack)).AddRange(items); break; } // ADDITEMS
                case (byte)'s': { object? v = Pop(stack), k = Pop(stack); SetItem(Top(stack), k, v); break; } // SETITEM
                case (byte)'u': // SETITEMS
                {
                    object?[] items = PopMark(stack);
                    if (items.Length % 2 != 0) throw new InvalidDataException("SETITEMS with an odd number of items");
                    for (int i = 0; i < items.Length; i += 2) SetItem(Top(stack), items[i], items[i + 1]);
                    break;
                }
                case (byte)'c': // GLOBAL "module\nname\n"
                {
                    string module = Line(pickle, ref pos), name = Line(pickle, ref pos);
                    stack.Add(Allowed(new Global(module, name)));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    object? name = Pop(stack), module = Pop(stack);
                    if (module is not string m || name is not string n) throw new InvalidDataException("STACK_GLOBAL of non-strings");
                    stack.Add(Allowed(new Global(m, n)));
                    break;
                }
                case (byte)'Q': stack.Add(PersistentLoad(Pop(stack))); break; // BINPERSID
                case (byte)'R': // REDUCE
                {
                    object? args = Pop(stack), callable = Pop(stack);
                    stack.Add(Reduce(callable, args as object?[] ?? throw new InvalidDataException("REDUCE without an argument tuple"), tensors));
                    break;
                }
                case 0x81: { object? args = Pop(stack), cls = Pop(stack); stack.Add(Reduce(cls, args as object?[] ?? [], tensors)); break; } // NEWOBJ
                case (byte)'b': Pop(stack); break; // BUILD: state applied to the object below (an OrderedDict's is empty)
                default: throw new InvalidDataException($"unsupported pickle opcode 0x{op:x2} at byte {pos - 1}");
            }
        }
    }

    private static object Allowed(Global g) =>
        g.Module is "torch._utils" or "collections" or "torch" or "_codecs" or "builtins" && g.Name.Length < 64
            ? g
            : throw new InvalidDataException($"pickle refers to {g.Module}.{g.Name}, which a state dict never needs");

    private static Storage PersistentLoad(object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage" || t[1] is not Global type || t[2] is not string key || t[4] is not long n || n < 0)
            throw new InvalidDataException("persistent id is not ('storage', type, key, location, numel)");
        return new Storage(type.Name, key, n);
    }

    private static object? Reduce(object? callable, object?[] args, List<TensorRef> tensors)
    {
        if (callable is Global { Module: "torch._utils", Name: "_rebuild_tensor_v2" or "_rebuild_tensor" })
        {
            if (args.Length < 4 || args[0] is not Storage s || args[1] is not long offset || args[2] is not object?[] size || args[3] is not object?[] stride)
                throw new InvalidDataException("_rebuild_tensor_v2 with malformed arguments");
            var t = new TensorRef(s, offset, Longs(size), Longs(stride));
            tensors.Add(t);
            return t;
        }
        if (callable is Global { Module: "torch._utils", Name: "_rebuild_parameter" } && args.Length > 0) return args[0];
        return new Dictionary<object, object?>(); // OrderedDict() and friends: a container
    }

    private static long[] Longs(object?[] items) =>
        items.Select(x => x is long v ? v : throw new InvalidDataException("tensor size or stride is not a tuple of integers")).ToArray();

    private static void SetItem(object? target, object? key, object? value)
    {
        if (target is not Dictionary<object, object?> d || key is null) throw new InvalidDataException("SETITEM on something that is not a dict");
        d[key] = value;
    }

    private static List<object?> AsList(object? o) => o as List<object?> ?? throw new InvalidDataException("APPEND on something that is not a list");

    private static object? Get(Dictionary<long, object?> memo, long key) =>
        memo.TryGetValue(key, out object? v) ? v : throw new InvalidDataException($"pickle memo {key} read before it is written");

    private static object? Top(List<object?> stack) => stack.Count > 0 && stack[^1] is not Mark ? stack[^1] : throw new InvalidDataException("pickle stack underflow");

    private static object? Pop(List<object?> stack)
    {
        object? v = Top(stack);
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private static object?[] PopMark(List<object?> stack)
    {
        int mark = stack.FindLastIndex(x => x is Mark);
        if (mark < 0) throw new InvalidDataException("pickle MARK missing");
        object?[] items = stack.GetRange(mark + 1, stack.Count - mark - 1).ToArray();
        stack.RemoveRange(mark, stack.Count - mark);
        return items;
    }

    private static ReadOnlySpan<byte> Take(ReadOnlySpan<byte> pickle, ref int pos, int count)
    {
        if (count < 0 || count > pickle.Length - pos) throw new InvalidDataException($"pickle truncated: {count} bytes needed at byte {pos}");
        ReadOnlySpan<byte> s = pickle.Slice(pos, count);
        pos += count;
        return s;
    }

    private static int Length(ReadOnlySpan<byte> u32)
    {
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(u32);
        return n > int.MaxValue ? -1 : (int)n;
    }

    private static long Long(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > 8) throw new InvalidDataException("pickle integer wider than 64 bits");
        long v = 0;
        for (int i = bytes.Length - 1; i >= 0; i--) v = (v << 8) | bytes[i];
        if (bytes.Length is > 0 and < 8 && (bytes[^1] & 0x80) != 0) v -= 1L << (8 * bytes.Length); // two's complement
        return v;
    }

    private static string Line(ReadOnlySpan<byte> pickle, ref int pos)
    {
        int end = pickle[pos..].IndexOf((byte)'\n');
        if (end < 0) throw new InvalidDataException("pickle GLOBAL without a newline");
        string s = Utf8(pickle.Slice(pos, end));
        pos += end + 1;
        return s;
    }

    private static string Utf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidDataException("pickle string is not valid UTF-8");
        }
    }
}
