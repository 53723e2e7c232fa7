using System.Numerics;
using PimQuant.Sim;
using PimQuant.Hardware.Cost;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;
using VariationKind = PimQuant.Hardware.Spec.VariationKind;
using AdcStepMode = PimQuant.Hardware.Spec.AdcStepMode;

namespace PimQuant.Tests.Sim;

/// <summary>A deliberately plain transcription of docs/hardware.md §0 and the simulator's stated
/// readings, one partial sum at a time: no tables, no bit packing, no vectors, its own tiling, layout
/// and exact-rational ADC. Only the counter-based random draws (<see cref="SimRandom"/>) are shared, so
/// that both sides see the same devices and noise. The output uses the simulator's documented
/// factorisation: per row tile an exact integer sum times the step, tiles in ascending order, then the
/// exact digital terms.</summary>
internal static class CrossbarReference
{
    public sealed record Result(double[] Output, EventCounts Events);

    public static Result Run(CrossbarConfig cfg, int[] weights, int k, int n, byte[] activations, int pixels,
        ProgramOptions? program = null, IInputDigitPolicy? digitPolicy = null, long firstPixel = 0, bool signed = false)
    {
        program ??= new ProgramOptions();
        int polarities = cfg.WeightEncoding == WeightEncoding.Differential ? 2 : 1;
        int magnitudeBits = cfg.WeightEncoding == WeightEncoding.Differential ? cfg.WeightBits - 1 : cfg.WeightBits;
        int slices = (magnitudeBits + cfg.CellBits - 1) / cfg.CellBits;
        int digits = (cfg.ActivationBits + cfg.DacBits - 1) / cfg.DacBits;
        int levelMax = (1 << cfg.CellBits) - 1, digitMax = (1 << cfg.DacBits) - 1;
        int fraction = cfg.ConductanceFractionBits;
        var ni = cfg.NonIdealities;
        ulong layerKey = SimRandom.LayerKey(program.Name);
        int Phys(int j, int pol, int s) => (j * polarities + pol) * slices + s;
        int columns = n * polarities * slices;

        // §1: row tiles, then OU row groups inside each tile. Slice-major (the precision-aware mapping) tiles hold whole
        // OU row groups only, so its groups are ou_rows-row blocks counted from row 0.
        var groupStart = new List<int>(); var groupRows = new List<int>(); var groupTile = new List<int>();
        int rowTiles = 0, tileRows = cfg.ColumnLayout == ColumnLayout.SliceMajor || cfg.WholeOuRowTiles ? cfg.Rows / cfg.OuRows * cfg.OuRows : cfg.Rows;
        for (int tileStart = 0; tileStart < k; tileStart += tileRows, rowTiles++)
            for (int r = tileStart; r < Math.Min(k, tileStart + tileRows); r += cfg.OuRows)
            {
                groupStart.Add(r); groupRows.Add(Math.Min(cfg.OuRows, Math.Min(k, tileStart + tileRows) - r)); groupTile.Add(rowTiles);
            }
        int groups = groupStart.Count;

        // Digital segments: the row tiles, or with digital scales runs of a tile's row groups whose scales agree in every column.
        var segments = new List<List<int>>();
        for (int g = 0; g < groups; g++)
        {
            bool join = segments.Count > 0 && groupTile[segments[^1][0]] == groupTile[g]
                && (program.DigitalScales is not { } ds || Enumerable.Range(0, n).All(j => ds[groupStart[g] * n + j] == ds[groupStart[segments[^1][0]] * n + j]));
            if (join) segments[^1].Add(g); else segments.Add([g]);
        }

        // Column tiles and OUs in the chosen layout.
        int perWeight = polarities * slices;
        int perTile = cfg.ColumnLayout == ColumnLayout.SliceMajor ? cfg.Cols / (perWeight * cfg.OuCols) * cfg.OuCols : cfg.Cols / perWeight;
        int ousPerTile = (cfg.Cols + cfg.OuCols - 1) / cfg.OuCols;
        int columnTiles = (n + perTile - 1) / perTile;
        var ouOf = new int[columns];
        var ouUsed = new int[columnTiles * ousPerTile];
        for (int j = 0; j < n; j++)
            for (int pol = 0; pol < polarities; pol++)
                for (int s = 0; s < slices; s++)
                {
                    int local = j % perTile;
                    int position = cfg.ColumnLayout == ColumnLayout.SliceMajor
                        ? local / cfg.OuCols * (perWeight * cfg.OuCols) + (pol * slices + s) * cfg.OuCols + local % cfg.OuCols
                        : local * perWeight + pol * slices + s;
                    ouOf[Phys(j, pol, s)] = j / perTile * ousPerTile + position / cfg.OuCols;
                    ouUsed[ouOf[Phys(j, pol, s)]]++;
                }

        // §2–§3: magnitudes, slices, levels.
        var level = new int[k, columns];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < n; j++)
            {
                int w = weights[i * n + j];
                for (int pol = 0; pol < polarities; pol++)
                {
                    int magnitude = cfg.WeightEncoding == WeightEncoding.Offset ? w + (1 << (cfg.WeightBits - 1)) : pol == 0 ? Math.Max(w, 0) : Math.Max(-w, 0);
                    for (int s = 0; s < slices; s++) level[i, Phys(j, pol, s)] = (magnitude >> (cfg.CellBits * s)) & levelMax;
                }
            }

        // The array of each (row group, OU): a mapping's placement (−1: not held, never read), else row tile × column tile.
        int ouIds = columnTiles * ousPerTile;
        int ArrayOf(int g, int ou) => program.Placement is { } placed ? placed.ArrayOf[g * ouIds + ou] : groupTile[g] * columnTiles + ou / ousPerTile;
        int arrayCount = program.Placement?.Arrays ?? rowTiles * columnTiles;

        // Skipped OUs, decided on the intended levels (before flip and faults); OUs a placement leaves out are skipped too.
        var skipped = new bool[groups, columnTiles * ousPerTile];
        if (program.Placement is not null)
            for (int g = 0; g < groups; g++)
                for (int ou = 0; ou < ouIds; ou++) skipped[g, ou] = ouUsed[ou] > 0 && ArrayOf(g, ou) < 0;
        if (program.OuSkip is { } skip)
            for (int g = 0; g < groups; g++)
                for (int ou = 0; ou < columnTiles * ousPerTile; ou++)
                {
                    if (ouUsed[ou] == 0 || skipped[g, ou]) continue;
                    bool allZero = true;
                    for (int c = 0; c < columns; c++)
                        for (int i = groupStart[g]; i < groupStart[g] + groupRows[g]; i++)
                            if (ouOf[c] == ou && level[i, c] != 0) allZero = false;
                    skipped[g, ou] = skip.Skip(new ProgrammedOu(g, ou, groupStart[g], groupRows[g], ouUsed[ou], allZero));
                }

        // §2 column flip, per physical column and row group.
        var flipped = new bool[groups, columns];
        if (cfg.ColumnFlip)
            for (int g = 0; g < groups; g++)
                for (int c = 0; c < columns; c++)
                {
                    int sum = 0;
                    for (int i = groupStart[g]; i < groupStart[g] + groupRows[g]; i++) sum += level[i, c];
                    if (sum * 2.0 <= groupRows[g] * (double)levelMax) continue;
                    flipped[g, c] = true;
                    for (int i = groupStart[g]; i < groupStart[g] + groupRows[g]; i++) level[i, c] = levelMax - level[i, c];
                }

        // §6: faults, on/off leakage, variation; conductances in units of 2^−F.
        var conductance = new long[k, columns];
        double scale = Math.Pow(2, fraction);
        for (int i = 0; i < k; i++)
            for (int c = 0; c < columns; c++)
            {
                int l = level[i, c];
                bool stuck = false;
                if (ni.StuckAtZero > 0 || ni.StuckAtOne > 0)
                {
                    double u = SimRandom.Uniform(SimRandom.CellKey(program.Seed, layerKey, RandomPurpose.Fault, i, c));
                    if (u < ni.StuckAtZero) { l = 0; stuck = true; }
                    else if (u < ni.StuckAtZero + ni.StuckAtOne) { l = levelMax; stuck = true; }
                }
                double g0 = l > 0 ? l : double.IsPositiveInfinity(ni.OnOffRatio) ? 0 : levelMax / ni.OnOffRatio;
                if (ni.Variation is { } v && (v.Sigma > 0 || (v.SigmaPerLevel?.Any(x => x > 0) ?? false)) && !stuck)
                {
                    double sigma = v.SigmaPerLevel?[l] ?? v.Sigma;
                    double z = SimRandom.Normal(SimRandom.CellKey(program.Seed, layerKey, RandomPurpose.Variation, i, c));
                    g0 *= v.Kind == VariationKind.Gaussian ? 1 + sigma * z : Math.Exp(sigma * z);
                }
                conductance[i, c] = (long)Math.Floor(Math.Max(g0, 0) * scale + 0.5);
            }

        // §5: ADC steps per array.
        double nominal = cfg.AdcStep.Mode switch
        {
            AdcStepMode.Unit => 1.0,
            AdcStepMode.FullRange => cfg.AdcBits == 0 ? 1.0 : (double)((long)cfg.OuRows * digitMax * levelMax) / ((1 << cfg.AdcBits) - 1),
            _ => cfg.AdcStep.Value,
        };
        double Step(int rt, int j) => program.AdcSteps is null ? nominal
            : program.AdcSteps.Count == 1 ? program.AdcSteps[0] : program.AdcSteps[rt * columnTiles + j / perTile];
        double ReferenceStep(int rt, int j) => program.ReferenceAdcSteps is null ? Step(rt, j)
            : program.ReferenceAdcSteps.Count == 1 ? program.ReferenceAdcSteps[0] : program.ReferenceAdcSteps[rt * columnTiles + j / perTile];

        // The reference column: nominal level-0 cells, converted with every read; the analog part is scaled by
        // G_max/(G_max − G_min), both in units of 2^−F.
        bool reference = cfg.ReferenceColumn && !double.IsPositiveInfinity(ni.OnOffRatio);
        long leak = reference ? (long)Math.Floor(levelMax / ni.OnOffRatio * scale + 0.5) : 0;
        double gain = reference ? (double)((long)levelMax << fraction) / (((long)levelMax << fraction) - leak) : 1.0;

        var output = new double[pixels * n];
        long reads = 0, zeroReads = 0, conversions = 0, drives = 0, nonzeroDrives = 0, digitSkipped = 0, ouSkipped = 0, cellReads = 0, digitSums = 0, indexBits = 0;
        var arrayReads = new long[Math.Max(1, arrayCount)];
        LayerGeometry? geometry = digitPolicy is null ? null : ProgrammedLayer.Program(cfg, weights, k, n, program).Geometry;
        for (int m = 0; m < pixels; m++)
        {
            var a = activations.AsSpan(m * k, k).ToArray();
            var masks = Enumerable.Repeat((uint)((1 << digits) - 1), groups).ToArray();
            digitPolicy?.SelectDigits(firstPixel + m, a, geometry!, masks);
            int Digit(int i, int t) => (a[i] >> (cfg.DacBits * t)) & digitMax;
            bool Streamed(int g, int t) => (masks[g] >> t & 1) != 0;

            // Signed (two's complement): the sign digit T−1 is shift-added as a sum of its own and subtracted
            // (the simulator's stated factorisation); unsigned: one part with every digit.
            var parts = signed ? new Func<int, bool>[] { t => t < digits - 1, t => t == digits - 1 } : [t => true];
            for (int j = 0; j < n; j++)
            {
              output[m * n + j] = 0;
              for (int part = 0; part < parts.Length; part++)
              {
                bool InPart(int t) => parts[part](t);
                double y = 0, referenceSum = 0, scaledExact = 0;
                long exact = 0;
                foreach (var segment in segments)
                {
                    int rt = groupTile[segment[0]];
                    long acc = 0, referenceAcc = 0, segmentExact = 0;
                    foreach (int g in segment)
                    {
                        for (int t = 0; t < digits; t++)
                        {
                            if (!Streamed(g, t) || !InPart(t)) continue;
                            for (int pol = 0; pol < polarities; pol++)
                                for (int s = 0; s < slices; s++)
                                {
                                    int c = Phys(j, pol, s);
                                    if (skipped[g, ouOf[c]]) continue;
                                    long p = 0, digitSum = 0;
                                    for (int i = groupStart[g]; i < groupStart[g] + groupRows[g]; i++)
                                    {
                                        p += Digit(i, t) * conductance[i, c];
                                        digitSum += Digit(i, t);
                                    }
                                    if (ni.ReadNoise > 0)
                                    {
                                        double z = SimRandom.Normal(SimRandom.ColumnKey(SimRandom.ReadKey(program.Seed, layerKey, firstPixel + m, g, t), c));
                                        p += (long)Math.Floor(ni.ReadNoise * scale * z + 0.5);
                                    }
                                    long code = cfg.AdcBits == 0 ? p : AdcCode(p, Step(rt, j), fraction, (1 << cfg.AdcBits) - 1);
                                    int shift = cfg.DacBits * t + cfg.CellBits * s;
                                    int polaritySign = pol == 1 ? -1 : 1;
                                    acc += polaritySign * (flipped[g, c] ? -1 : 1) * (code << shift);
                                    if (reference)
                                    {
                                        long pReference = digitSum * leak;
                                        long referenceCode = cfg.AdcBits == 0 ? pReference : AdcCode(pReference, ReferenceStep(rt, j), fraction, (1 << cfg.AdcBits) - 1);
                                        referenceAcc += polaritySign * (flipped[g, c] ? -1 : 1) * (referenceCode << shift);
                                    }
                                    // Column flip recovery: p = (2^c − 1)·Σa_t − p_flipped.
                                    if (flipped[g, c]) segmentExact += polaritySign * (levelMax * digitSum << shift);
                                }
                        }
                    }
                    if (cfg.WeightEncoding == WeightEncoding.Offset)
                        foreach (int g in segment)
                            for (int i = groupStart[g]; i < groupStart[g] + groupRows[g]; i++)
                                for (int t = 0; t < digits; t++)
                                    if (Streamed(g, t) && InPart(t)) segmentExact -= (1L << (cfg.WeightBits - 1)) * ((long)Digit(i, t) << (cfg.DacBits * t));
                    double step = (cfg.AdcBits == 0 ? 1.0 / scale : Step(rt, j)) * gain;
                    double referenceStep = (cfg.AdcBits == 0 ? 1.0 / scale : ReferenceStep(rt, j)) * gain;
                    if (program.DigitalScales is { } digital)
                    {
                        // Digital scales: the segment's factor and its exact terms carry its scale.
                        double factor = digital[groupStart[segment[0]] * n + j];
                        (step, referenceStep) = (step * factor, referenceStep * factor);
                        scaledExact += factor * segmentExact;
                    }
                    else exact += segmentExact;
                    y += step * acc;
                    // The reference codes are shift-added as a sum of their own, subtracted after the exact terms.
                    referenceSum += referenceStep * referenceAcc;
                }
                // Left to right, as the simulator: the magnitude part is written, the sign part subtracted.
                double terms = program.DigitalScales is null ? exact : scaledExact;
                if (part == 0) output[m * n + j] = y + terms - referenceSum;
                else output[m * n + j] -= y + terms - referenceSum;
              }
            }

            // §7 events.
            for (int g = 0; g < groups; g++)
                for (int t = 0; t < digits; t++)
                {
                    int nonzero = 0;
                    for (int i = groupStart[g]; i < groupStart[g] + groupRows[g]; i++) if (Digit(i, t) != 0) nonzero++;
                    // A streamed round of the group reads every entry of its block row of the precision table (pruned blocks' too).
                    if (Streamed(g, t) && program.PrecisionIndex is { } index) indexBits += (long)index.EntriesPerRowGroup[g] * index.EntryBits;
                    var arraysRead = new HashSet<int>();
                    for (int ou = 0; ou < columnTiles * ousPerTile; ou++)
                    {
                        if (ouUsed[ou] == 0) continue;
                        if (!Streamed(g, t)) { if (!skipped[g, ou]) digitSkipped++; continue; }
                        if (skipped[g, ou]) { ouSkipped++; continue; }
                        reads++;
                        arrayReads[ArrayOf(g, ou)]++;
                        arraysRead.Add(ArrayOf(g, ou));
                        cellReads += (long)groupRows[g] * ouUsed[ou];
                        conversions += ouUsed[ou] + (cfg.ReferenceColumn ? 1 : 0);
                        drives += groupRows[g];
                        nonzeroDrives += nonzero;
                        if (nonzero == 0) zeroReads++;
                    }
                    // One digit sum per array holding a read OU of the group (offset term, column flip).
                    if (cfg.WeightEncoding == WeightEncoding.Offset || cfg.ColumnFlip) digitSums += arraysRead.Count;
                }
        }
        var events = new EventCounts
        {
            OuReads = reads, ZeroInputReads = zeroReads, AdcConversions = conversions, ShiftAdds = conversions, DacDrives = drives,
            NonzeroDacDrives = nonzeroDrives, DigitSkippedReads = digitSkipped, OuSkippedReads = ouSkipped,
            CellReads = cellReads, DigitSums = digitSums, CriticalPathOuReads = arrayReads.Max(),
            // A digit policy's selector examines each of a pixel's K inputs once (docs/hardware.md §4).
            DigitSelections = digitPolicy is null ? 0 : (long)pixels * k,
            IndexReadBits = indexBits,
        };
        return new Result(output, events);
    }

    /// <summary>clamp(⌊p/step + ½⌋, 0, max) for p = P·2^−F, in exact rational arithmetic.</summary>
    public static long AdcCode(long partialSum, double step, int fraction, int max)
    {
        long bits = BitConverter.DoubleToInt64Bits(step);
        int exponent = (int)((bits >> 52) & 0x7FF);
        long fractionBits = bits & ((1L << 52) - 1);
        BigInteger mantissa = exponent == 0 ? fractionBits : fractionBits | (1L << 52);
        int e = (exponent == 0 ? -1074 : exponent - 1075) + fraction; // step·2^F = mantissa·2^e
        // p/step + ½ = (2P + mantissa·2^e) / (2·mantissa·2^e)
        BigInteger numerator, denominator;
        if (e >= 0) { numerator = 2 * (BigInteger)partialSum + (mantissa << e); denominator = 2 * (mantissa << e); }
        else { numerator = ((BigInteger)partialSum << (1 - e)) + mantissa; denominator = 2 * mantissa; }
        var quotient = BigInteger.DivRem(numerator, denominator, out var remainder);
        if (remainder.Sign < 0) quotient -= 1; // floor, not truncation
        return (long)BigInteger.Clamp(quotient, 0, max);
    }
}
