using PimQuant.Hardware.Presets;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

public sealed class SpecValidationTests
{
    private const string File = "my-chip.yaml";

    /// <summary>The isaac preset with one line replaced: a real file with one mistake.</summary>
    private static string Isaac(string find, string replace)
    {
        string yaml = PresetCatalog.ReadYaml("isaac");
        Assert.Contains(find, yaml);
        return yaml.Replace(find, replace);
    }

    private static HardwareSpecException Fails(string yaml) =>
        Assert.Throws<HardwareSpecException>(() => HardwareSpecLoader.Parse(yaml, File));

    [Theory]
    // wrong type
    [InlineData("cell:\n  bits: 2", "cell:\n  bits: two", "cell.bits", "two", "must be an integer from 1 to 8")]
    [InlineData("  column_flip: true", "  column_flip: yes please", "encoding.column_flip", "yes please", "must be true or false")]
    [InlineData("cell:\n  bits: 2", "cell: 2", "cell", "2", "must be a mapping with fields bits")]
    [InlineData("  settle_ns: 1 ", "  settle_ns: [1] ", "organisation.settle_ns", "[1]", "must be a single value")]
    // out of range
    [InlineData("  bits: 8                 #", "  bits: 40                #", "adc.bits", "40", "must be an integer from 0 to 16, or ideal")]
    [InlineData("    ou_rows: 128", "    ou_rows: 129", "arrays[0].ou_rows", "129", "must be an integer from 1 to rows = 128")]
    [InlineData("    power_mw: 20.7", "    power_mw: -20.7", "components[0].power_mw", "-20.7", "must be a number from 0")]
    [InlineData("  saf: {sa0: 0, sa1: 0}", "  saf: {sa0: 0.5, sa1: 1.5}", "non_idealities.saf.sa1", "1.5", "must be a number from 0 to 1")]
    [InlineData("  on_off_ratio: ideal", "  on_off_ratio: 0.5", "non_idealities.on_off_ratio", "0.5", "must be a number greater than 1, or ideal")]
    // unknown field (a typo must not be ignored)
    [InlineData("  step: unit", "  stpe: unit", "adc.stpe", "unit", "unknown field; 'adc' allows bits, step, calibration")]
    [InlineData("technology_nm: 32", "technology_nm: 32\nclock_mhz: 1200", "clock_mhz", "1200", "unknown field; the top level allows")]
    [InlineData("    shared_by: 4", "    shared_by: 4\n    sharedby: 4", "components[2].sharedby", "4", "unknown field")]
    // bad enum value
    [InlineData("  weights: offset ", "  weights: twos_complement ", "encoding.weights", "twos_complement", "must be one of offset, differential")]
    [InlineData("  step: unit", "  step: half_range", "adc.step", "half_range", "must be one of unit, full_range, calibrated")]
    [InlineData("mapping: dense", "mapping: sparse", "mapping", "sparse", "must be one of dense, precision_aware, magnitude_aligned")]
    [InlineData("    level: tile\n    count: 1\n    detail: 64 KB", "    level: rack\n    count: 1\n    detail: 64 KB", "components[0].level", "rack", "must be one of chip, tile, ima")]
    [InlineData("{event: dac_drive,", "{event: dac_driving,", "components[8].events[0].event", "dac_driving", "must be one of ou_read, cell_read")]
    // fields that contradict each other
    [InlineData("  adcs_per_ima: 8\n", "  adcs_per_ima: 4\n", "components[7].count", "8", "must equal component_basis.adcs_per_ima = 4")]
    [InlineData("  step: unit", "  step: unit\n  calibration: layer", "adc.calibration", "layer", "only allowed with step: calibrated")]
    [InlineData("{kind: gaussian, sigma: 0}", "{kind: gaussian, sigma: 0.1, sigma_per_level: [0.1, 0.2]}", "non_idealities.variation.sigma_per_level", "[0.1, 0.2]", "4 values for cell.bits = 2")]
    [InlineData("  adc_bits: 8\n", "  adc_bits: 17\n", "component_basis.adc_bits", "17", "must be an integer from 1 to 16")]
    [InlineData("{event: dac_drive, energy_pj: 0.417}", "{event: dac_drive, energy_pj: 0.417, bits: 8}", "components[8].events[0].bits", "8", "only allowed for buffer_read")]
    public void AMistakeIsReportedWithFileFieldValueAndWhatIsAllowed(string find, string replace, string field, string value, string allowed)
    {
        var e = Fails(Isaac(find, replace));
        Assert.StartsWith($"{File}: field '{field}' = {value}: ", e.Message);
        Assert.Contains(allowed, e.Message);
        Assert.Equal((File, field, value), (e.File, e.Field, e.Value));
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void MissingVersionIsAnError()
    {
        var e = Fails(Isaac("version: 1\n", ""));
        Assert.Equal($"{File}: field 'version' is missing: must be 1; this PimQuant reads hardware spec version 1", e.Message);
    }

    [Theory]
    [InlineData("2", "unsupported version")]
    [InlineData("one", "must be the integer 1")]
    public void UnsupportedVersionIsAnErrorBeforeAnyOtherField(string version, string allowed)
    {
        // A newer file may hold fields this schema does not know: the version is reported, not them.
        var e = Fails(Isaac("version: 1\n", $"version: {version}\nfuture_field: 3\n"));
        Assert.StartsWith($"{File}: field 'version' = {version}: {allowed}", e.Message);
    }

    [Fact]
    public void MissingRequiredFieldsNameTheirPath()
    {
        Assert.StartsWith($"{File}: field 'adc.bits' is missing", Fails(Isaac("  bits: 8                 #", "  #")).Message);
        Assert.StartsWith($"{File}: field 'arrays[0].tiles' is missing", Fails(Isaac("    tiles: 168\n", "")).Message);
        Assert.StartsWith($"{File}: field 'source' is missing", Fails("version: 1\nname: x\n").Message);
    }

    [Fact]
    public void YamlSyntaxErrorsGiveLineAndColumn()
    {
        var e = Fails("version: 1\nname: [unclosed\ncell: {bits: 2}\n");
        Assert.Matches(@"^my-chip\.yaml: YAML syntax error at line \d+, column \d+: .+", e.Message);
        Assert.Null(e.Field);

        var duplicate = Fails("version: 1\nname: a\nname: b\n");
        Assert.Contains("YAML syntax error at line", duplicate.Message);
    }

    [Fact]
    public void EmptyOrNonMappingFilesAreErrors()
    {
        Assert.StartsWith($"{File}: empty", Fails("").Message);
        Assert.StartsWith($"{File}: is a YAML list, not a mapping", Fails("- 1\n- 2\n").Message);
    }

    [Fact]
    public void DefaultsFillOptionalFields()
    {
        var spec = HardwareSpecLoader.Parse("""
            version: 1
            name: minimal
            source: test
            arrays: [{name: a, rows: 64, cols: 32}]
            cell: {bits: 1}
            dac: {bits: 2}
            adc: {bits: ideal}
            encoding: {weights: differential}
            """, File);
        Assert.Equal(new ArrayGeometry("a", 64, 32, 64, 32, null), spec.DefaultArray);
        Assert.True(spec.Adc.IsIdeal);
        Assert.Equal(AdcStepMode.Unit, spec.Adc.Step);
        Assert.False(spec.Encoding.ColumnFlip);
        Assert.Equal(MappingNames.Dense, spec.Mapping);
        Assert.Equal(new PrecisionDefaults(8, 8), spec.Defaults);
        Assert.Null(spec.Organisation);
        Assert.Empty(spec.Components);
        Assert.True(spec.NonIdealities.IsIdeal);
        Assert.Equal(File, spec.Origin);
    }

    [Fact]
    public void AHeterogeneousPoolIsOneSpec()
    {
        var spec = HardwareSpecLoader.Parse("""
            version: 1
            name: pool
            source: test
            arrays:
              - {name: small, rows: 64, cols: 64}
              - {name: medium, rows: 128, cols: 128, ou_rows: 16, ou_cols: 16}
              - {name: large, rows: 256, cols: 256}
            cell: {bits: 2}
            dac: {bits: 1}
            adc: {bits: 8, step: calibrated, calibration: array}
            encoding: {weights: offset}
            """, File);
        Assert.Equal(["small", "medium", "large"], spec.Arrays.Select(a => a.Name));
        Assert.Equal(16, spec.Array("medium").OuRows);
        Assert.Equal(AdcCalibration.Array, spec.Adc.Calibration);
        Assert.Equal($"{File}: field 'arrays[].name' = huge: no such geometry; the spec has small, medium, large",
            Assert.Throws<HardwareSpecException>(() => spec.Array("huge")).Message);
        Assert.StartsWith($"{File}: field 'arrays[1].name' = a: must be unique",
            Fails("version: 1\nname: p\nsource: t\narrays: [{name: a, rows: 4, cols: 4}, {name: a, rows: 8, cols: 8}]\n").Message);
    }

    [Fact]
    public void LoadNamesPresetsFilesAndNeither()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pimq-hw-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "chip.yaml");
            System.IO.File.WriteAllText(path, Isaac("name: isaac\n", "name: my-isaac\n"));
            var spec = HardwareSpecLoader.Load(path);
            Assert.Equal(("my-isaac", path), (spec.Name, spec.Origin));

            System.IO.File.WriteAllText(path, Isaac("  bits: 2", "  bits: 9"));
            Assert.StartsWith($"{path}: field 'cell.bits' = 9:", Assert.Throws<HardwareSpecException>(() => HardwareSpecLoader.Load(path)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        var e = Assert.Throws<HardwareSpecException>(() => HardwareSpecLoader.Load("isaak"));
        Assert.Equal("isaak: neither a preset (isaac, isaac-ou, bwq-h, neurosim-rram) nor an existing file", e.Message);
    }
}
