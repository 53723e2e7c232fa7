namespace PimQuant.Sim;

/// <summary>The way a layer is simulated. All give identical results where they apply.</summary>
public enum SimulationPath
{
    /// <summary>Lossless layer: y = a'·W by exact integer matrix product.</summary>
    Exact,
    /// <summary>Narrow OUs without read noise: per row group a table from the OU's input pattern to the
    /// shift-added codes of every logical column.</summary>
    OuTable,
    /// <summary>1-bit cells and 1-bit DAC without per-cell variation or read noise: bit-packed rows,
    /// counts by 128-entry popcount lookups over 7-row units, ADC by a (driven rows, ones) → code table.</summary>
    BitCount,
    /// <summary>The general path: per-cell conductances summed over the driven rows.</summary>
    Conductance,
}
