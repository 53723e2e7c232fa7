using PimQuant.Quant.Formats;

namespace PimQuant.Tests.Quant;

public class FormatTests
{
    /// <summary>One format of each family and sign, at several widths.</summary>
    public static TheoryData<NumberFormat> Formats() =>
    [
        new IntegerFormat(1, false), new IntegerFormat(2, true), new IntegerFormat(4, true, NarrowRange: true), new IntegerFormat(4, false, NarrowRange: true),
        new IntegerFormat(8, true), new IntegerFormat(8, false), new IntegerFormat(12, true, true), new IntegerFormat(16, false),
        new PowerOfTwoFormat(1, false), new PowerOfTwoFormat(4, true), new PowerOfTwoFormat(5, false), new PowerOfTwoFormat(8, true),
        new AdditivePowerOfTwoFormat(4, false), new AdditivePowerOfTwoFormat(5, true), new AdditivePowerOfTwoFormat(4, true, 3), new AdditivePowerOfTwoFormat(9, true, 4),
        new FloatFormat(4, 3), new FloatFormat(5, 2), new FloatFormat(2, 1), new FloatFormat(3, 0, Signed: false), new FloatFormat(5, 10),
    ];

    [Theory]
    [MemberData(nameof(Formats))]
    public void LevelsAreSortedDistinctAndIncludeZero(NumberFormat format)
    {
        var levels = format.Levels();
        Assert.Empty(format.Problems());
        Assert.Contains(0.0, levels);
        for (int i = 1; i < levels.Length; i++) Assert.True(levels[i] > levels[i - 1], $"{format}: level {i} not above level {i - 1}");
        Assert.Equal(format.MaxLevel, levels[^1]);
        Assert.Equal(format.MinLevel, levels[0]);
        // Every level is exact in float32, which the fake quantization computes in.
        Assert.All(levels, v => Assert.Equal(v, (double)(float)v));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void EveryCodeDecodesToALevelThatEncodesBackAndIsASumOfPowersOfTwo(NumberFormat format)
    {
        var levels = format.Levels().ToHashSet();
        long first = format is IntegerFormat i ? i.QMin : 0, last = format is IntegerFormat j ? j.QMax : (1L << format.Bits) - 1;
        for (long code = first; code <= last; code++)
        {
            double level = format.LevelOf(code);
            Assert.Contains(level, levels);
            long back = format.CodeOf(level);
            Assert.Equal(level, format.LevelOf(back));
            // Only the negative-zero pattern of a sign-magnitude format may differ from its canonical code.
            if (back != code) Assert.Equal(0.0, level);
            var terms = format.Terms(level);
            Assert.Equal(level, terms.Sum(t => t.Value));
            Assert.Equal(terms.Count, terms.Select(t => t.Exponent).Distinct().Count());
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void LevelCountMatchesTheFormulaOfEachFamily(NumberFormat format)
    {
        int count = format.Levels().Length;
        int magnitudeBits = format.Bits - (format.Signed ? 1 : 0);
        int expected = format switch
        {
            IntegerFormat f => (int)(f.QMax - f.QMin + 1),
            PowerOfTwoFormat => format.Signed ? 2 * ((1 << magnitudeBits) - 1) + 1 : 1 << magnitudeBits,
            _ => format.Signed ? 2 * (1 << magnitudeBits) - 1 : 1 << magnitudeBits,
        };
        Assert.Equal(expected, count);
    }

    [Fact]
    public void KnownValues()
    {
        Assert.Equal((-128L, 127L), (new IntegerFormat(8, true).QMin, new IntegerFormat(8, true).QMax));
        Assert.Equal((-127L, 127L), (new IntegerFormat(8, true, true).QMin, new IntegerFormat(8, true, true).QMax));
        Assert.Equal(254L, new IntegerFormat(8, false, true).QMax);
        Assert.Equal([-1, -0.5, -0.25, 0, 0.25, 0.5, 1], new PowerOfTwoFormat(3, true).Levels());
        // APoT, 4 unsigned bits as two fields of 2 bits: {0, 1, 2^-2, 2^-4} + {0, 2^-1, 2^-3, 2^-5}.
        var apot = new AdditivePowerOfTwoFormat(4, false, 2).Levels();
        var expected = (from a in new[] { 0, 1, 0.25, 0.0625 } from b in new[] { 0, 0.5, 0.125, 0.03125 } select a + b).Order().ToArray();
        Assert.Equal(expected, apot);
        Assert.Equal(1.5, new AdditivePowerOfTwoFormat(4, false, 2).MaxLevel);
        // Every pattern finite: E4M3 reaches (8 + 7)·2^(15 − 7 − 3) = 480, E5M2 (4 + 3)·2^(31 − 15 − 2) = 114688.
        Assert.Equal(480, new FloatFormat(4, 3).MaxLevel);
        Assert.Equal(114688, new FloatFormat(5, 2).MaxLevel);
        Assert.Equal(Math.ScaleB(1, -9), new FloatFormat(4, 3).LevelOf(1)); // smallest subnormal 2^(1 − 7 − 3)
        Assert.Equal([new PowerOfTwoTerm(-1, 2), new PowerOfTwoTerm(-1, 0)], new IntegerFormat(4, true).Terms(-5));
        Assert.Equal([new PowerOfTwoTerm(1, 0), new PowerOfTwoTerm(1, -3)], new AdditivePowerOfTwoFormat(4, false, 2).Terms(1.125));
    }

    [Theory]
    [InlineData(0, "bits")]
    [InlineData(17, "bits")]
    public void OutOfRangeIntegerBitsAreRefused(int bits, string field)
    {
        var problems = new IntegerFormat(bits, true).Problems().ToList();
        Assert.Equal(field, Assert.Single(problems).Field);
        Assert.Contains("1..16", problems[0].Problem);
    }

    [Fact]
    public void InvalidCombinationsNameTheirField()
    {
        Assert.Equal("bits", new IntegerFormat(1, true).Problems().Single().Field);
        Assert.Equal("terms", new AdditivePowerOfTwoFormat(4, true, 2).Problems().Single().Field); // 3 magnitude bits
        Assert.Contains("24 bits", new AdditivePowerOfTwoFormat(9, false, 1).Problems().Single().Problem); // exponents to 2^-510
        Assert.Equal("bits", new PowerOfTwoFormat(8, false).Problems().Single().Field);
        Assert.Equal("bias", new FloatFormat(8, 7).Problems().Single().Field); // 2^128 overflows float32
        Assert.Throws<ArgumentException>(() => new IntegerFormat(4, false).CodeOf(2.5));
        Assert.Throws<ArgumentException>(() => new PowerOfTwoFormat(3, true).CodeOf(0.75));
    }
}
