namespace PagedSim.Allocator.ModelConfig;

/// <summary>
/// Llama 3.1's RoPE scaling (<c>rope_type: llama3</c>): frequencies whose wavelength is shorter than
/// <see cref="OriginalMaxPositions"/> / <see cref="HighFreqFactor"/> stay, those longer than
/// <see cref="OriginalMaxPositions"/> / <see cref="LowFreqFactor"/> are divided by <see cref="Factor"/>, and those in
/// between are interpolated smoothly — Meta's <c>apply_scaling</c> and transformers' <c>_compute_llama3_parameters</c>.
/// </summary>
/// <param name="Factor">Divisor of the low frequencies (8 for Llama 3.1 and 3.3, 32 for 3.2 1B/3B).</param>
/// <param name="LowFreqFactor">Wavelengths above original / this are fully scaled (1).</param>
/// <param name="HighFreqFactor">Wavelengths below original / this are left alone (4).</param>
/// <param name="OriginalMaxPositions">The context the model was pre-trained at (8192).</param>
public sealed record RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions)
{
    /// <summary>The constants Meta's Llama 3.1 reference code hard-codes (<c>apply_scaling</c> in model.py); transformers'
    /// config.json of Llama 3.1 8B/70B/405B and 3.3 70B carries the same.</summary>
    public static RopeScaling Llama31 { get; } = new(8, 1, 4, 8192);

    /// <summary>The scaled inverse frequency for <paramref name="frequency"/> (radians per position).</summary>
    public double Scale(double frequency)
    {
        double wavelength = 2 * Math.PI / frequency;
        double lowFreqWavelength = OriginalMaxPositions / LowFreqFactor, highFreqWavelength = OriginalMaxPositions / HighFreqFactor;
        if (wavelength < highFreqWavelength) return frequency;
        if (wavelength > lowFreqWavelength) return frequency / Factor;
        double smooth = (OriginalMaxPositions / wavelength - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return (1 - smooth) * frequency / Factor + smooth * frequency;
    }

    /// <summary>Throws <see cref="FormatException"/> for values no llama3 scaling can have.</summary>
    public void Validate()
    {
        if (!(Factor >= 1)) throw new FormatException($"RoPE scaling factor must be at least 1, got {Factor}");
        if (!(LowFreqFactor > 0) || !(HighFreqFactor > LowFreqFactor))
            throw new FormatException($"RoPE scaling needs 0 < low_freq_factor < high_freq_factor, got {LowFreqFactor} and {HighFreqFactor}");
        if (OriginalMaxPositions <= 0) throw new FormatException($"RoPE scaling's original_max_position_embeddings must be positive, got {OriginalMaxPositions}");
    }
}
