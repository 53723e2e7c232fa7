using PimQuant.Hardware.Presets;
using PimQuant.Methods;
using PimQuant.Methods.ReDy;

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
    public void Two_methods_choosing_the_input_digits_do_not_combine()
    {
        var a = ReDyScheme.FromOptions("lossless", null, null, "array");
        var b = ReDyScheme.FromOptions("max", 4, null, "array");
        var e = Assert.Throws<ArgumentException>(() => SchemeCatalog.Compose(a, b));
        Assert.Contains("both choose the input digits", e.Message);
        var composed = SchemeCatalog.Compose(a, new PimQuant.Experiments.MethodParts("other", "other"));
        Assert.Equal(("redy+other", "redy lossless array + other"), (composed.Method, composed.Label));
        Assert.Same(a.DigitPolicy, composed.DigitPolicy);
    }
}
