using System.Diagnostics;
using System.Runtime.Intrinsics;
using PimQuant.Hardware.Cost;
using PimQuant.Sim;
using VariationKind = PimQuant.Hardware.Spec.VariationKind;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;

namespace PimQuant.Bench;

/// <summary>Images/s of whole networks: every layer programmed once, then batches of random activation
/// codes streamed through all layers (layers are independent here: each gets its own random codes of
/// the right shape). Programming time is reported apart.</summary>
public static class Throughput
{
    private sealed record Case(string Name, IReadOnlyList<LayerShape> Network, CrossbarSettings Settings, int Images, int Batch);

    public static void Run(string[] args)
    {
        int threads = Option(args, "--threads", 0);
        double scale = Option(args, "--scale", 100) / 100.0;
        string filter = args.SkipWhile(a => a != "--filter").Skip(1).FirstOrDefault() ?? "";
        var configuration = new SimConfiguration { MaxDegreeOfParallelism = threads };
        Console.WriteLine($"# {Environment.ProcessorCount} logical cores, threads={configuration.MaxDegreeOfParallelism}, " +
                          $"Vector512={Vector512.IsHardwareAccelerated}, .NET {Environment.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
        var variation = new NonIdealities { Variation = new ProgrammingVariation(VariationKind.Gaussian, 0.05) };
        var cases = new List<Case>
        {
            new("resnet20 bwq-h step 1 (lossless: exact path), offset", Workloads.Resnet20, Workloads.BwqH(AdcStep.Unit, WeightEncoding.Offset), 2000, 100),
            new("resnet20 bwq-h full-range step (lossy), offset", Workloads.Resnet20, Workloads.BwqH(AdcStep.FullRange, WeightEncoding.Offset), 1000, 100),
            new("resnet20 bwq-h full-range step (lossy), differential", Workloads.Resnet20, Workloads.BwqH(AdcStep.FullRange, WeightEncoding.Differential), 1000, 100),
            new("resnet20 bwq-h full-range + variation σ=0.05", Workloads.Resnet20, Workloads.BwqH(AdcStep.FullRange, WeightEncoding.Offset) with { NonIdealities = variation }, 1000, 100),
            new("resnet20 bwq-h full-range + read noise σ=0.05", Workloads.Resnet20, Workloads.BwqH(AdcStep.FullRange, WeightEncoding.Offset) with { NonIdealities = new NonIdealities { ReadNoise = 0.05 } }, 20, 10),
            new("resnet20 isaac (lossless: exact path)", Workloads.Resnet20, Workloads.Isaac, 2000, 100),
            new("vgg8 neurosim-rram (lossy, on/off 10)", Workloads.Vgg8, Workloads.NeuroSim, 40, 8),
            new("vgg8 neurosim-rram + variation σ=0.05", Workloads.Vgg8, Workloads.NeuroSim with { NonIdealities = Workloads.NeuroSim.NonIdealities with { Variation = variation.Variation } }, 8, 4),
        };
        foreach (var c in cases.Where(c => c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)))
            Measure(c with { Images = Math.Max(c.Batch, (int)(c.Images * scale) / c.Batch * c.Batch) }, configuration);
    }

    private static void Measure(Case c, SimConfiguration configuration)
    {
        var config = CrossbarConfig.Create(c.Settings);
        var rng = new Random(1);
        var programming = Stopwatch.StartNew();
        var layers = c.Network.Select(shape => ProgrammedLayer.Program(config, Workloads.RandomWeights(rng, config, shape.K * shape.N), shape.K, shape.N,
            new ProgramOptions { Name = shape.Name, Seed = 1 }, configuration)).ToArray();
        programming.Stop();
        var inputs = c.Network.Select(shape => Workloads.RandomActivations(rng, shape.K * shape.PixelsPerImage * c.Batch, config.ActivationBits)).ToArray();
        var outputs = c.Network.Select(shape => new double[shape.N * shape.PixelsPerImage * c.Batch]).ToArray();
        var perLayer = new double[layers.Length];
        var events = EventCounts.Zero;
        RunBatch(c, layers, inputs, outputs, configuration, perLayer, ref events); // warm-up: JIT, table builds
        Array.Clear(perLayer);
        events = EventCounts.Zero;
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var total = Stopwatch.StartNew();
        for (int done = 0; done < c.Images; done += c.Batch) RunBatch(c, layers, inputs, outputs, configuration, perLayer, ref events);
        total.Stop();
        process.Refresh();
        double seconds = total.Elapsed.TotalSeconds, cpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        long macs = c.Network.Sum(s => s.MacsPerImage);
        // On a shared machine wall time includes waiting for the CPU; images per CPU-second × threads is
        // what the run would reach on otherwise idle cores.
        Console.WriteLine($"{c.Name}: {c.Images / seconds,8:F1} images/s wall, {c.Images / cpuSeconds,8:F1} images per CPU-second " +
                          $"({c.Images} images, batch {c.Batch}, {seconds:F2} s wall, {cpuSeconds:F2} s CPU; {macs / 1e6:F1} M MACs/image; " +
                          $"programming {programming.Elapsed.TotalSeconds:F2} s)");
        Console.WriteLine($"    paths: {string.Join(", ", layers.Select(l => l.DefaultPath).Distinct())}; per image: " +
                          $"{events.OuReads / (double)c.Images / 1e6:F2} M OU reads, {events.AdcConversions / (double)c.Images / 1e6:F1} M conversions, " +
                          $"{100.0 * events.ZeroInputReads / Math.Max(1, events.OuReads):F1}% zero-input reads");
        Console.WriteLine("    " + string.Join("  ", c.Network.Select((s, i) => $"{s.Name} {1000 * perLayer[i] / c.Images:F2}")) + "  (ms/image)");
    }

    private static void RunBatch(Case c, ProgrammedLayer[] layers, byte[][] inputs, double[][] outputs, SimConfiguration configuration, double[] perLayer, ref EventCounts events)
    {
        for (int l = 0; l < layers.Length; l++)
        {
            long start = Stopwatch.GetTimestamp();
            events += layers[l].Run(inputs[l], outputs[l], c.Network[l].PixelsPerImage * c.Batch, configuration);
            perLayer[l] += Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }
}
