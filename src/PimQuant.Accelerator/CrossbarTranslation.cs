using PimQuant.Hardware.Spec;
using PimQuant.Sim;

namespace PimQuant.Accelerator;

/// <summary>Reads a hardware spec as the simulator's crossbar description: one vocabulary
/// (docs/hardware.md §0), two records, so the fields map one to one.</summary>
public static class CrossbarTranslation
{
    /// <summary>The simulator's settings for <paramref name="spec"/>'s default array geometry at the given
    /// integer widths. A calibrated ADC step starts at full range until <see cref="CrossbarModel.CalibrateAdc"/>
    /// sets it from data.</summary>
    /// <exception cref="HardwareSpecException">The spec names a mapping the simulator cannot place.</exception>
    public static CrossbarSettings Settings(HardwareSpec spec, int weightBits, int activationBits) =>
        Settings(spec, new CrossbarPlan { WeightBits = weightBits, ActivationBits = activationBits });

    /// <summary>The simulator's settings for one layer's <paramref name="plan"/> on <paramref name="spec"/>: the plan's array
    /// geometry, widths, ADC bits and row tiling, the rest from the spec.</summary>
    /// <exception cref="HardwareSpecException">The spec names a mapping the simulator cannot place, or the plan an array the spec lacks.</exception>
    public static CrossbarSettings Settings(HardwareSpec spec, CrossbarPlan plan)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(plan);
        var geometry = spec.Array(plan.Array);
        var ni = spec.NonIdealities;
        // A precision-aware array packs OUs of several row tiles; the simulator converts a row tile's reads with that
        // tile's steps, so a step per packed array has no place to go (docs/simulation.md, ADC steps).
        if (spec.Mapping == MappingNames.PrecisionAware && spec.Adc.Calibration == AdcCalibration.Array)
            throw HardwareSpecException.Invalid(spec.Origin, "adc.calibration", "array",
                $"the simulator calibrates one ADC step per layer under the '{MappingNames.PrecisionAware}' mapping, whose arrays pack OUs of several row tiles; use calibration: layer");
        return new CrossbarSettings
        {
            Rows = geometry.Rows, Cols = geometry.Cols, OuRows = geometry.OuRows, OuCols = geometry.OuCols,
            CellBits = spec.Cell.Bits, DacBits = spec.Dac.Bits, AdcBits = plan.AdcBits ?? spec.Adc.Bits, WholeOuRowTiles = plan.WholeOuRowTiles,
            AdcStep = spec.Adc.Step == AdcStepMode.Unit ? AdcStep.Unit : AdcStep.FullRange,
            WeightEncoding = spec.Encoding.Weights,
            ColumnFlip = spec.Encoding.ColumnFlip,
            ReferenceColumn = spec.Encoding.ReferenceColumn,
            WeightBits = plan.WeightBits, ActivationBits = plan.ActivationBits,
            ColumnLayout = spec.Mapping switch
            {
                MappingNames.Dense => ColumnLayout.WeightMajor,
                MappingNames.PrecisionAware => ColumnLayout.SliceMajor,
                _ => throw HardwareSpecException.Invalid(spec.Origin, "mapping", spec.Mapping,
                    $"the simulator places '{MappingNames.Dense}' and '{MappingNames.PrecisionAware}' columns; '{spec.Mapping}' comes with its method"),
            },
            NonIdealities = new NonIdealities
            {
                Variation = ni.Variation.IsActive
                    ? new ProgrammingVariation(ni.Variation.Kind,
                        ni.Variation.Sigma, ni.Variation.SigmaPerLevel)
                    : null,
                OnOffRatio = ni.OnOffRatio ?? double.PositiveInfinity,
                StuckAtZero = ni.Saf.Sa0,
                StuckAtOne = ni.Saf.Sa1,
                ReadNoise = ni.ReadNoise,
            },
        };
    }
}
