using PimQuant.Methods.Bwq;

namespace PimQuant.Tests.Methods.Bwq;

public class BwqReproductionTests
{
    [Theory]
    [InlineData(46_485_280L, 14_651_712L, "3.17× more")]
    [InlineData(7_325_856L, 14_651_712L, "2× fewer")]
    [InlineData(100L, 100L, "as many")]
    [InlineData(5L, 0L, "5× more")]
    public void The_read_ratio_is_a_factor_above_one_with_its_direction(long bwq, long dense, string expected) =>
        Assert.Equal(expected, BwqReproduction.ReadRatio(bwq, dense));
}
