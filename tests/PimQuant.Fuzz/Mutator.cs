namespace PimQuant.Fuzz;

/// <summary>
/// Byte-level mutations in the style of AFL's havoc stage: bit flips, interesting values,
/// arithmetic, insertions, deletions, truncation, block duplication and splicing with another
/// corpus entry. Every choice comes from the seeded generator, so a run is reproducible.
/// </summary>
public sealed class Mutator(Random random)
{
    private static readonly long[] Interesting = [0, 1, -1, 127, 128, 255, 256, 32767, 65535, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, 16, 64, 100, 1000, 1024, 4096];

    /// <summary>A mutated copy of <paramref name="input"/>; <paramref name="other"/> is used for splicing.</summary>
    public byte[] Mutate(byte[] input, byte[] other)
    {
        var data = new List<byte>(input);
        int rounds = 1 << random.Next(0, 5);
        for (int r = 0; r < rounds; r++)
        {
            if (data.Count == 0) { data.Add((byte)random.Next(256)); continue; }
            int at = random.Next(data.Count);
            switch (random.Next(9))
            {
                case 0: data[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: data[at] = (byte)random.Next(256); break;
                case 2: data[at] = (byte)(data[at] + random.Next(-35, 36)); break;
                case 3:
                    {
                        long v = Interesting[random.Next(Interesting.Length)];
                        int width = 1 << random.Next(0, 4);
                        for (int b = 0; b < width && at + b < data.Count; b++) data[at + b] = (byte)(v >> (8 * b));
                        break;
                    }
                case 4: data.InsertRange(at, Enumerable.Range(0, random.Next(1, 17)).Select(_ => (byte)random.Next(256))); break;
                case 5: data.RemoveRange(at, Math.Min(data.Count - at, random.Next(1, 33))); break;
                case 6: data.RemoveRange(at, data.Count - at); break;
                case 7:
                    {
                        int length = Math.Min(data.Count - at, random.Next(1, 65));
                        data.InsertRange(random.Next(data.Count), data.GetRange(at, length).ToArray());
                        break;
                    }
                default:
                    if (other.Length > 0)
                    {
                        int from = random.Next(other.Length);
                        int length = Math.Min(other.Length - from, random.Next(1, 257));
                        data.RemoveRange(at, Math.Min(data.Count - at, length));
                        data.InsertRange(at, other.AsSpan(from, length).ToArray());
                    }
                    break;
            }
        }
        return data.ToArray();
    }
}
