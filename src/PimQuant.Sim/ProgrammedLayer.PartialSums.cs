using PimQuant.Sim.Kernels;

namespace PimQuant.Sim;

// The ideal partial sums of every read and their ADC codes, and the layout a model of them needs: what learns or checks ADC
// steps outside the kernels (CIMQ), computed read by read.
public sealed partial class ProgrammedLayer
{
    /// <summary>The layout of this layer's conversions (<see cref="PartialSumLayout"/>).</summary>
    public PartialSumLayout Layout()
    {
        var geometry = Geometry;
        int c = geometry.PhysicalColumns, n = geometry.N, groups = geometry.RowGroupCount;
        var conductance = CellConductances();
        var weight = new int[(long)groups * c];
        var arrayOf = new int[(long)groups * c];
        var scale = new double[(long)groups * n];
        for (int g = 0; g < groups; g++)
        {
            for (int pc = 0; pc < c; pc++)
            {
                weight[(long)g * c + pc] = ColumnSign[(long)g * PaddedColumns + pc] << SliceShift[pc];
                arrayOf[(long)g * c + pc] = geometry.GroupTile[g] * geometry.ColumnTileCount + geometry.OuColumnTile[geometry.OuOfColumn[pc]];
            }
            int segment = Array.FindLastIndex(SegmentFirstGroup, first => first <= g);
            for (int j = 0; j < n; j++) scale[(long)g * n + j] = SegmentScales?[(long)segment * n + j] ?? 1.0;
        }
        return new PartialSumLayout(geometry, Config.ConductanceFractionBits, Config.AdcCodeMax, conductance, weight, arrayOf, scale);
    }

    /// <summary>The ideal partial sum p = Σ_(rows of g) digit·G of every read (no read noise, before the ADC), in units of
    /// 2^−F: pixels × row groups × digits × physical columns, row-major, 0 for a bitline whose OU is not read. Codes as in
    /// <see cref="Run"/>; every digit is listed (no digit policy).</summary>
    public long[] PartialSums(ReadOnlySpan<byte> activations, int pixels)
    {
        int k = Geometry.K, c = Geometry.PhysicalColumns, groups = Geometry.RowGroupCount, digits = Config.Digits;
        if (activations.Length < (long)pixels * k) throw new ArgumentException($"expected {(long)pixels * k} activation codes", nameof(activations));
        var conductance = CellConductances();
        var sums = new long[(long)pixels * groups * digits * c];
        for (int p = 0; p < pixels; p++)
            for (int g = 0; g < groups; g++)
                for (int t = 0; t < digits; t++)
                {
                    var read = sums.AsSpan((int)((((long)p * groups + g) * digits + t) * c), c);
                    SumReadRows(activations.Slice(p * k, k), g, t, conductance, read);
                    for (int pc = 0; pc < c; pc++)
                        if (ColumnSign[(long)g * PaddedColumns + pc] == 0) read[pc] = 0;
                }
        return sums;
    }

    /// <summary>The ADC code of every read's partial sum (<see cref="PartialSums"/>, same layout) under the programmed steps:
    /// clamp(⌊p/step + ½⌋, 0, 2^A − 1), exactly as the kernels convert; with an ideal ADC, the partial sums themselves.</summary>
    public long[] AdcCodes(ReadOnlySpan<byte> activations, int pixels)
    {
        var sums = PartialSums(activations, pixels);
        if (Config.IsAdcIdeal) return sums;
        var layout = Layout();
        int c = Geometry.PhysicalColumns, groups = Geometry.RowGroupCount, digits = Config.Digits;
        var adcs = ArraySteps.Select(s => new AdcQuantizer(s, Config.ConductanceFractionBits, Config.AdcCodeMax)).ToArray();
        for (long read = 0; read < sums.Length / c; read++)
        {
            int g = (int)(read / digits % groups);
            for (int pc = 0; pc < c; pc++)
                sums[read * c + pc] = layout.Weight[(long)g * c + pc] == 0 ? 0 : adcs[layout.ArrayOf[(long)g * c + pc]].Code(sums[read * c + pc]);
        }
        return sums;
    }

    /// <summary>Every cell's conductance (K × physical columns, row-major), units of 2^−F.</summary>
    private int[] CellConductances()
    {
        var conductance = new int[(long)Geometry.K * Geometry.PhysicalColumns];
        for (long cell = 0; cell < conductance.Length; cell++) conductance[cell] = Conductance(cell);
        return conductance;
    }

    /// <summary>Adds Σ_(rows of group g) digit t of the row's code × its conductance into <paramref name="sums"/> (one per
    /// physical column): one read's ideal partial sums, from <paramref name="conductance"/> (K × C, units of 2^−F).</summary>
    private void SumReadRows(ReadOnlySpan<byte> a, int g, int t, int[] conductance, Span<long> sums)
    {
        int c = Geometry.PhysicalColumns, d = Config.DacBits, start = Geometry.GroupStart[g], rows = Geometry.GroupRows[g];
        for (int i = start; i < start + rows; i++)
        {
            int digit = a[i] >> (d * t) & Config.DigitMax;
            if (digit == 0) continue;
            var row = conductance.AsSpan(i * c, c);
            for (int pc = 0; pc < c; pc++) sums[pc] += digit * row[pc];
        }
    }
}
