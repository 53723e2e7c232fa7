namespace PimQuant.Hardware.Mapping;

/// <summary>
/// Which input digits an input group streams: the parameter of the simulation through which
/// ReDy chooses a precision per group at run time. A group is the part of one output pixel's
/// lowered input vector that drives one array's wordlines (rows [MatrixRow, …) of that array's
/// blocks). Digit t (0 = least significant) carries the bits [d·t, d·t + d) of each input; every
/// OU read, DAC drive and ADC conversion is counted once per streamed digit.
/// </summary>
public interface IDigitSelector
{
    /// <summary>Name for reports.</summary>
    string Name { get; }

    /// <summary>
    /// The digits to stream for one group as a mask (bit t set = digit t streamed) over the
    /// T = ceil(<paramref name="activationBits"/> / <paramref name="dacBits"/>) digits.
    /// </summary>
    uint Select(ReadOnlySpan<int> groupInputs, int activationBits, int dacBits);
}

/// <summary>Every digit of every group: the static, dense case the analytic counts assume.</summary>
public sealed class AllDigits : IDigitSelector
{
    /// <summary>The one instance.</summary>
    public static AllDigits Instance { get; } = new();

    /// <inheritdoc/>
    public string Name => "all";

    /// <inheritdoc/>
    public uint Select(ReadOnlySpan<int> groupInputs, int activationBits, int dacBits) => Mask(activationBits, dacBits);

    /// <summary>The mask of all T digits.</summary>
    public static uint Mask(int activationBits, int dacBits)
    {
        int digits = (activationBits + dacBits - 1) / dacBits;
        return digits >= 32 ? uint.MaxValue : (1u << digits) - 1;
    }
}
