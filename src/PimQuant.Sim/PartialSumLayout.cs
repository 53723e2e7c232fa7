namespace PimQuant.Sim;

/// <summary>
/// What a model of a programmed layer's ADC conversions needs, e.g. CIMQ's differentiable partial-sum quantization
/// that learns ADC steps: the programmed conductances, which array converts each bitline, and the factor by which
/// each converted code enters its logical column's output. With these, for pixel activations a and streamed digit t
/// of row group g, the ideal partial sum of physical column pc is p = Σ_(rows i of g) a_t[i]·G[i, pc] (units of 2^−F),
/// its code is clamp(⌊p / (step·2^F) + ½⌋, 0, <see cref="AdcCodeMax"/>) with the step of array
/// <see cref="ArrayOf"/>[g, pc], and the layer's output in column n changes by
/// Scale[g, n]·2^(d·t)·Weight[g, pc]·(step·code − p·2^−F) against the exact integer product
/// (the column-flip and offset terms are exact digital sums and cancel). Read noise is not part of it.
/// </summary>
/// <param name="Geometry">Tiles, row groups and columns.</param>
/// <param name="FractionBits">F: conductances are integers in units of 2^−F levels.</param>
/// <param name="AdcCodeMax">2^A − 1 (0: an ideal ADC).</param>
/// <param name="Conductance">K × physical columns, row-major: each cell's programmed conductance (after column flip,
/// stuck-at faults, programming variation and leakage), units of 2^−F.</param>
/// <param name="Weight">Row groups × physical columns: ±2^(c·s) by which a code of the bitline counts in its logical
/// column's integer sum (sign: G− polarity and column flip), 0 where the OU is not read.</param>
/// <param name="ArrayOf">Row groups × physical columns: the index of the array (row tile × column tile, row-major)
/// whose ADC step converts the bitline, the order of <see cref="ProgrammedLayer.Steps"/>.</param>
/// <param name="Scale">Row groups × logical columns: the digital scale of the group's segment (1 without digital scales).</param>
public sealed record PartialSumLayout(LayerGeometry Geometry, int FractionBits, int AdcCodeMax,
    int[] Conductance, int[] Weight, int[] ArrayOf, double[] Scale);
