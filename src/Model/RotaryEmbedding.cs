using TorchSharp;
using PagedSim.Allocator.ModelConfig;
using static TorchSharp.torch;

namespace PagedSim.Model;

/// <summary>
/// RoPE in Meta's convention: consecutive element pairs (2i, 2i+1) of each head are a complex number rotated by
/// position · θ^(−2i/headDim) — for Llama 3.1 and later with the low frequencies scaled down (<see cref="RopeScaling"/>).
/// The table of unit rotations is computed once, in float32 as Meta does.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cis; // complex64 [maxPositions, headDim / 2]

    /// <summary>Precomputes rotations for positions 0..<paramref name="maxPositions"/>-1, with Llama 3.1's frequency
    /// scaling when <paramref name="scaling"/> is given.</summary>
    public RotaryEmbedding(int headDim, double theta, int maxPositions, Device device, RopeScaling? scaling = null)
    {
        MaxPositions = maxPositions;
        using var scope = NewDisposeScope();
        // freqs = 1 / theta ** (arange(0, d, 2)[: d/2] / d)   (llama3 model.py, precompute_freqs_cis)
        using Scalar end = headDim.ToScalar(), two = 2.ToScalar(), dim = ((float)headDim).ToScalar(), thetaValue = theta.ToScalar(),
            positions = maxPositions.ToScalar(); // held for the calls: see Scalars
        Tensor exponents = arange(Scalars.Zero, end, two, dtype: ScalarType.Float32).div_(dim);
        Tensor freqs = pow(full([headDim / 2], thetaValue, dtype: ScalarType.Float32), exponents).reciprocal();
        if (scaling is not null)
        {
            // Meta's apply_scaling: the float32 frequencies scaled one by one in double precision, stored as float32.
            float[] scaled = freqs.data<float>().ToArray().Select(f => (float)scaling.Scale(f)).ToArray();
            freqs = tensor(scaled);
        }
        Tensor angles = outer(arange(Scalars.Zero, positions, Scalars.One, dtype: ScalarType.Float32), freqs);
        _cis = polar(ones_like(angles), angles).to(device).DetachFromDisposeScope();
    }

    /// <summary>Positions the table covers.</summary>
    public int MaxPositions { get; }

    /// <summary>The table itself, complex64 [maxPositions, headDim/2]: in memory (cos, sin) float pairs, as the fused RoPE kernel reads it.</summary>
    internal Tensor Table => _cis;

    /// <summary>Rotations for <paramref name="positions"/> (int64 [batch, len]), shaped [batch, len, 1, headDim/2] to broadcast over heads.</summary>
    public Tensor For(Tensor positions)
    {
        long b = positions.shape[0], t = positions.shape[1];
        return _cis.index_select(0, positions.reshape(-1)).view(b, t, 1, -1);
    }

    /// <summary>Rotates <paramref name="x"/> [batch, len, heads, headDim] by <paramref name="cis"/> (from <see cref="For"/>), in float32.</summary>
    public static Tensor Apply(Tensor x, Tensor cis)
    {
        Tensor pairs = view_as_complex(x.to(ScalarType.Float32).reshape(x.shape[0], x.shape[1], x.shape[2], -1, 2));
        return view_as_real(pairs * cis).flatten(3).to(x.dtype);
    }

    /// <inheritdoc/>
    public void Dispose() => _cis.Dispose();
}
