using PimQuant.Hardware.Presets;
using PimQuant.Methods;
using PimQuant.Methods.Cimq;
using PimQuant.Methods.ReDy;
using PimQuant.Sim;

namespace PimQuant.Tests.Methods;

/// <summary>The scheme catalogue of <c>pimq compare --schemes</c>: the baseline first, each scheme on its hardware unless told,
/// combinations composed from parts, and every mistake one line naming it.</summary>
public class SchemeCatalogTests
{
    private static IReadOnlyList<PimQuant.Experiments.Report.ComparedScheme> Parse(string list, string? hw = null) =>
        SchemeCatalog.Parse(list, hw, PresetCatalog.Load);

    [Fact]
    public void The_baseline_runs_first_whether_listed_or_not_and_each_scheme_on_its_own_hardware()
    {
        var schemes = Parse("redy,baseline@neurosim-rram");
        Assert.Equal(["baseline", "redy", "baseline@neurosim-rram"], schemes.Select(s => s.Name));
        Assert.Equal(["isaac", "isaac", "neurosim-rram"], schemes.Select(s => s.Spec.Name));
        Assert.Null(schemes[0].Parts);
        Assert.Equal("redy", schemes[1].Parts!.Method);
        Assert.NotNull(schemes[1].Paper);
        Assert.Equal(["baseline", "redy"], Parse("redy,baseline").Select(s => s.Name));
        Assert.All(Parse("baseline,redy", hw: "isaac-ou"), s => Assert.Equal("isaac-ou", s.Spec.Name));
    }

    [Theory]
    [InlineData("nope", "unknown scheme 'nope'; known schemes: baseline, redy")]
    [InlineData("baseline,,redy", "an empty scheme name")]
    [InlineData("redy,redy", "'redy' is given twice")]
    [InlineData("baseline+redy", "baseline is the conventional scheme itself")]
    [InlineData("redy+redy", "redy is combined with itself")]
    [InlineData("redy+nope", "unknown scheme 'nope'")]
    [InlineData("redy@", "give the hardware after @")]
    public void A_mistake_is_one_line_naming_it(string list, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => Parse(list));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Two_digit_policies_read_what_both_read_and_two_rewriting_ones_do_not_combine()
    {
        var lossless = ReDyScheme.FromOptions("lossless", null, null, "array");
        var cimq = CimqScheme.Parts(CimqOptions.Only(["sparsity", "clip"]));
        var composed = SchemeCatalog.Compose(lossless, cimq);
        Assert.Equal(("redy+cimq", "redy lossless array + cimq sparsity+clip"), (composed.Method, composed.Label));
        Assert.Same(cimq.AdcCalibration, composed.AdcCalibration);
        Assert.Equal(cimq.Quantization, composed.Quantization);
        // One row group of 4 inputs, 8 digits: the lossless window is digits 1..6, the zero-digit skip leaves out digits 0, 2, 3, 7.
        var geometry = LayerGeometry.For(CrossbarConfig.Create(new CrossbarSettings
        {
            Rows = 4, Cols = 8, OuRows = 4, OuCols = 8, CellBits = 2, DacBits = 1, AdcBits = 0, WeightBits = 8, ActivationBits = 8,
            WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding.Offset,
        }), 4, 1);
        byte[] codes = [0b0100_0010, 0b0001_0000, 0, 0b0010_0010];
        uint[] masks = [0xFF];
        composed.DigitPolicy!.SelectDigits(0, codes, geometry, masks);
        Assert.Equal(0b0111_0010u, masks[0]);

        var round = ReDyScheme.FromOptions("max", 4, null, "array", round: true);
        var e = Assert.Throws<ArgumentException>(() => SchemeCatalog.Compose(round, ReDyScheme.FromOptions("stats", 1, 3, "array", round: true)));
        Assert.Contains("both rewrite the input codes", e.Message);
        var clip = Assert.Throws<ArgumentException>(() => SchemeCatalog.Compose(cimq, cimq));
        Assert.Contains("both choose the ADC steps", clip.Message);
    }
}
