using PimQuant.Hardware.Spec;

namespace PimQuant.Hardware.Cost;

/// <summary>One pipeline stage as the balancer sees it.</summary>
/// <param name="Seconds">One image through the layer on one copy of its weights.</param>
/// <param name="Arrays">Arrays one copy takes.</param>
/// <param name="Pixels">Output pixels per image: the finest split of its work between copies.</param>
/// <param name="Geometry">The geometry its arrays are of.</param>
public readonly record struct Stage(double Seconds, int Arrays, long Pixels, string Geometry);

/// <summary>
/// ISAAC's pipeline balancing: the weights of a layer are replicated r times, the copies taking
/// ceil(P / r) of its P output pixels each, so its stage time is seconds · ceil(P / r) / P.
/// Greedily, the slowest stage gets the fewest more copies that shorten it, as long as its
/// geometry's IMAs (tiles × imas_per_tile, a layer taking ceil(arrays · r / arrays_per_ima)) hold
/// them; it stops when the slowest stage can be split no further or does not fit. Each step
/// shortens the slowest stage, so the period (the longest stage) is the least this greedy order
/// reaches within the chip.
/// </summary>
public static class PipelineBalance
{
    /// <summary>IMAs a layer of <paramref name="arrays"/> arrays takes with <paramref name="replication"/> copies.</summary>
    public static int Imas(OrganisationSpec organisation, int arrays, int replication) =>
        (int)(((long)arrays * replication + organisation.ArraysPerIma - 1) / organisation.ArraysPerIma);

    /// <summary>Stage seconds with <paramref name="replication"/> copies.</summary>
    public static double Seconds(Stage stage, int replication) =>
        stage.Pixels <= 1 ? stage.Seconds : stage.Seconds * Ceiling(stage.Pixels, replication) / stage.Pixels;

    /// <summary>Copies per stage; all 1 when the spec does not replicate or the unreplicated network does not fit.</summary>
    public static int[] Replicate(HardwareSpec spec, IReadOnlyList<Stage> stages)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(stages);
        var o = ComponentTotals.Organisation(spec);
        var r = Enumerable.Repeat(1, stages.Count).ToArray();
        if (o.Pipeline != PipelineMode.Layer || o.Replication != ReplicationMode.Balanced) return r;
        var free = spec.Arrays.ToDictionary(g => g.Name, g => (long)(g.Tiles ?? 0) * o.ImasPerTile);
        for (int i = 0; i < stages.Count; i++) free[stages[i].Geometry] -= Imas(o, stages[i].Arrays, 1);
        if (free.Values.Any(v => v < 0)) return r;

        var queue = new PriorityQueue<int, double>(stages.Select((s, i) => (i, -s.Seconds)));
        while (queue.TryDequeue(out int i, out _))
        {
            var s = stages[i];
            long share = Ceiling(s.Pixels, r[i]);
            if (share <= 1) return r;                                   // the slowest stage is one pixel per copy
            int next = (int)Ceiling(s.Pixels, share - 1);              // fewest copies that shorten it
            long more = Imas(o, s.Arrays, next) - Imas(o, s.Arrays, r[i]);
            if (more > free[s.Geometry]) return r;                      // the chip is full for it
            free[s.Geometry] -= more;
            r[i] = next;
            queue.Enqueue(i, -Seconds(s, next));
        }
        return r;
    }

    private static long Ceiling(long a, long b) => (a + b - 1) / b;
}
