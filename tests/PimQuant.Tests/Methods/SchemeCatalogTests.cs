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
        SchemeCatalog.Parse(list, hw, PresetCatalog.Load, "model.onnx");

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
    [InlineData("nope", "unknown scheme 'nope'; known schemes: baseline, redy, cimq, bwq")]
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

    [Fact]
    public void Bwq_runs_its_own_model_on_bwq_h_alone_or_with_redy_and_is_left_out_by_default_until_that_model_exists()
    {
        string folder = Directory.CreateTempSubdirectory("pimq-bwq-scheme").FullName;
        try
        {
            string model = Path.Combine(folder, "net.onnx");
            string own = Path.Combine(folder, "net-bwq.onnx");
            var missing = Assert.Throws<ArgumentException>(() => SchemeCatalog.Parse("bwq", null, PresetCatalog.Load, model));
            Assert.Contains($"expected at {own}: train it with pimq reproduce bwq --model {model} -o {own}", missing.Message);
            var notes = new List<string>();
            Assert.DoesNotContain("bwq", SchemeCatalog.DefaultNamesFor(model, notes.Add));
            Assert.Contains(notes, n => n.StartsWith("bwq is left out", StringComparison.Ordinal));

            File.WriteAllText(own, "");
            Assert.Contains("bwq", SchemeCatalog.DefaultNamesFor(model, _ => { }));
            var schemes = SchemeCatalog.Parse("bwq,redy+bwq", null, PresetCatalog.Load, model);
            Assert.Equal([null, own, own], schemes.Select(s => s.Model));
            // BWQ is bound to its hardware: a combination runs there, with the other method's digit policy.
            Assert.Equal(["isaac", "bwq-h", "bwq-h"], schemes.Select(s => s.Spec.Name));
            Assert.Equal("redy+bwq", schemes[2].Parts!.Method);
            Assert.NotNull(schemes[2].Parts!.DigitPolicy);
            Assert.NotNull(schemes[1].Paper);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
