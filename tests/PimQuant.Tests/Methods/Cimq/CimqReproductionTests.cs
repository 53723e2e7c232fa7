using PimQuant.Experiments;
using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;
using PimQuant.Methods.Cimq;

namespace PimQuant.Tests.Methods.Cimq;

/// <summary><c>pimq reproduce cimq</c>'s grid and its report: the 8-bit conventional baseline first, each row once, no learned
/// clipping where the ADC's step is not calibrated, and notes that state the bars against the measured rows.</summary>
public class CimqReproductionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pimq-cimq-reproduce-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CimqReproductionRequest Request(string model, IReadOnlyList<int> bits, IReadOnlyList<string> variants, int? images = null) =>
        new(model, new DataOptions(), images, CalibrationImages: 32, Seed: 0, BatchSize: 16, Threads: 2,
            [PresetCatalog.Load("isaac"), PresetCatalog.Load("neurosim-rram")], bits, [(8, 8), (4, 4)], variants);

    [Fact]
    public void The_grid_starts_with_the_8_bit_baseline_and_lists_each_row_once()
    {
        var schemes = CimqReproduction.Schemes(Request("m.onnx", [4, 8], ["conventional", "clip", "cimq", "all-parts"]));
        Assert.Equal("conventional adc8 w8a8 isaac", schemes[0].Name);
        Assert.Equal(("isaac", AdcStepMode.Unit, 8), (schemes[0].Spec.Name, schemes[0].Spec.Adc.Step, schemes[0].Spec.Adc.Bits));
        Assert.Null(schemes[0].Parts);
        // The baseline's own row is not run twice; clip alone on isaac's exact 8-bit ADC is the conventional row, so it is not run either.
        Assert.DoesNotContain(schemes.Skip(1), s => s.Name == "conventional adc8 w8a8 isaac" || s.Name == "clip adc8 w8a8 isaac");
        Assert.Equal(schemes.Count, schemes.Select(s => (s.Spec.Name, s.WeightBits, s.ActivationBits, s.Parts?.Label)).Distinct().Count());
        var cimq8 = schemes.Single(s => s.Name == "cimq adc8 w8a8 isaac");
        Assert.Equal("cimq sparsity+qdrop", cimq8.Parts!.Label); // no clipping to learn on an exact ADC
        Assert.Equal("cimq sparsity+array+clip+qdrop", schemes.Single(s => s.Name == "all-parts adc4 w8a8 isaac").Parts!.Label);
        var clip4 = schemes.Single(s => s.Name == "clip adc4 w4a4 neurosim-rram");
        Assert.Equal(("neurosim-rram adc4", AdcStepMode.Calibrated, AdcCalibration.Array), (clip4.Spec.Name, clip4.Spec.Adc.Step, clip4.Spec.Adc.Calibration));
        Assert.Equal((4, 4), (clip4.WeightBits, clip4.ActivationBits));
        var e = Assert.Throws<ArgumentException>(() => CimqReproduction.Schemes(Request("m.onnx", [4], ["clip", "bwq"])));
        Assert.Equal("CIMQ variant 'bwq': expected conventional, cimq, all-parts, sparsity, array, clip, qdrop", e.Message);
    }

    [Fact]
    public void A_run_reports_against_the_baseline_with_the_bars_in_its_notes()
    {
        string model = TestModels.LeNet(_dir);
        var request = Request(model, [4], ["conventional", "clip"], images: 16) with { Hardware = [PresetCatalog.Load("isaac")], Widths = [(8, 8)] };
        var report = CimqReproduction.Run(request, new QuietProgress(), CancellationToken.None).Results;
        Assert.Equal(["isaac w8a8", "isaac adc4 w8a8", "isaac adc4 w8a8 cimq clip"], report.Rows.Select(r => r.Scheme));
        Assert.Equal(1.0, report.Rows[0].EnergySaving);
        Assert.Equal(CimqDefaults.Paper, report.Context.Paper);
        Assert.Contains(report.Context.Notes, n => n.StartsWith("clip w8a8 on isaac: at a 4-bit ADC ", StringComparison.Ordinal));
        Assert.Contains(report.Context.Notes, n => n.StartsWith("the paper (abstract): up to 222 %", StringComparison.Ordinal));
        string png = Path.Combine(_dir, "cimq.png");
        CimqReproduction.SavePlot(report, png, "test");
        Assert.True(new FileInfo(png).Length > 1000);
    }
}
