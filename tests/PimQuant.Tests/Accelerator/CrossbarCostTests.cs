using PimQuant.Accelerator;
using PimQuant.Hardware.Cost;
using PimQuant.Hardware.Mapping;
using PimQuant.Hardware.Presets;

namespace PimQuant.Tests.Accelerator;

public class CrossbarCostTests
{
    /// <summary>Counts the mapping gives (useful MACs, buffer and router traffic); every other count is the simulator's.</summary>
    private static readonly string[] FromTheMapping =
        [nameof(EventCounts.Macs), nameof(EventCounts.BufferReadBits), nameof(EventCounts.BufferWriteBits), nameof(EventCounts.RouterBits)];

    [Fact]
    public void One_images_counts_are_the_mean_of_every_count_the_simulator_made()
    {
        // Every simulator count set to a distinct even total over 2 images: each must reach the cost model halved, so a
        // count added to EventCounts cannot be dropped on its way to the price (digit selections once were).
        var mapping = DenseTiling.Instance.Map(new MappingRequest(LayerShape.Linear("fc", 20, 12), PresetCatalog.Load("isaac"), 8));
        var counted = typeof(EventCounts).GetProperties().Where(p => p.PropertyType == typeof(long) && p.CanWrite && !FromTheMapping.Contains(p.Name)).ToArray();
        var events = new EventCounts();
        for (int i = 0; i < counted.Length; i++) counted[i].SetValue(events, 2L * (i + 1));
        var perImage = CrossbarCost.PerImage(events, 2, mapping, 8);
        var dense = DenseEventCounts.Compute(mapping, 8);
        for (int i = 0; i < counted.Length; i++) Assert.True(i + 1 == (long)counted[i].GetValue(perImage)!, counted[i].Name);
        foreach (var name in FromTheMapping)
        {
            var property = typeof(EventCounts).GetProperty(name)!;
            Assert.Equal(property.GetValue(dense), property.GetValue(perImage));
        }
    }
}
