using System.Globalization;
using PimQuant.Hardware.Spec;

namespace PimQuant.Tests.Hardware;

/// <summary>Small hand-made specs for mapping and cost tests.</summary>
internal static class TestSpecs
{
    /// <summary>
    /// One geometry, no organisation or components: enough for mapping and event counts.
    /// </summary>
    public static HardwareSpec Geometry(int rows, int cols, int? ouRows = null, int? ouCols = null, int cellBits = 2, int dacBits = 1,
        string encoding = "offset", bool flip = false, int adcBits = 8) =>
        HardwareSpecLoader.Parse(string.Create(CultureInfo.InvariantCulture, $$"""
            version: 1
            name: test-{{rows}}x{{cols}}
            source: hand-made for tests
            arrays:
              - {name: a, rows: {{rows}}, cols: {{cols}}, ou_rows: {{ouRows ?? rows}}, ou_cols: {{ouCols ?? cols}}}
            cell: {bits: {{cellBits}}}
            dac: {bits: {{dacBits}}}
            adc: {bits: {{adcBits}}}
            encoding: {weights: {{encoding}}, column_flip: {{(flip ? "true" : "false")}}}
            """), "test.yaml");

    /// <summary>
    /// The 8×4-array, 3×2-OU, 2-bit-cell, offset spec with a small component table whose numbers
    /// make hand arithmetic easy (used by the hand-worked cost test).
    /// </summary>
    public const string TinyCostYaml = """
        version: 1
        name: tiny
        source: hand-made for tests
        arrays:
          - {name: a, rows: 8, cols: 4, ou_rows: 3, ou_cols: 2, tiles: 4}
        cell: {bits: 2}
        dac: {bits: 1}
        adc: {bits: 4}
        encoding: {weights: offset, column_flip: false}
        organisation: {imas_per_tile: 2, arrays_per_ima: 4, adcs_per_ima: 2, adc_rate_gsps: 0.4, settle_ns: 1, pipeline: layer}
        component_basis: {rows: 8, cols: 4, arrays_per_ima: 4, adcs_per_ima: 2, adc_bits: 4, adc_rate_gsps: 0.4}
        components:
          - name: buffer
            level: tile
            power_mw: 2
            area_mm2: 0.5
            leakage_mw: 3
            events:
              - {event: buffer_read, energy_pj: 32, bits: 64}
              - {event: buffer_write, energy_pj: 64, bits: 64}
          - name: adc
            level: ima
            count: 2
            power_mw: 1
            area_mm2: 0.01
            events:
              - {event: adc_conversion, energy_pj_by_bits: {3: 0.5, 4: 1}}
          - name: dac
            level: ima
            power_mw: 1
            area_mm2: 0.001
            events: [{event: dac_drive, energy_pj: 0.25}]
          - name: crossbar
            level: ima
            count: 4
            power_mw: 1
            area_mm2: 0.002
            events: [{event: cell_read, energy_pj: 0.125}]
          - name: shift_add
            level: ima
            power_mw: 1
            area_mm2: 0.003
            leakage_mw: 1
            events:
              - {event: shift_add, energy_pj: 0.5}
              - {event: digit_sum, energy_pj: 0.75}
        """;
}
