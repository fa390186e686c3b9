using TorchSharp;

namespace PagedSim.Model;

/// <summary>
/// Scalars that live as long as the process, for the arguments TorchSharp would otherwise make as temporaries.
/// </summary>
/// <remarks>
/// TorchSharp turns a .NET number into a finalizable <see cref="Scalar"/> and passes its native handle to libtorch;
/// nothing keeps that temporary reachable during the call, so a collection on another thread can free it while
/// libtorch reads it ("Unknown scalar type", or an integral add refused for a floating alpha, under load). The same
/// holds for the alpha of 1 that <c>Tensor.add(Tensor)</c>, <c>add_(Tensor)</c>, <c>add(Scalar)</c> and the
/// <c>+</c> operator make inside TorchSharp. So the model's code passes only Scalars it holds: these constants, or a
/// <c>using Scalar</c> for a value of its own; and it calls <c>add(x, Scalars.One)</c> rather than <c>add(x)</c>.
/// </remarks>
public static class Scalars
{
    /// <summary>0 (int64).</summary>
    public static Scalar Zero { get; } = 0L.ToScalar();

    /// <summary>1 (int64): add's alpha, and arange's step.</summary>
    public static Scalar One { get; } = 1L.ToScalar();
}
