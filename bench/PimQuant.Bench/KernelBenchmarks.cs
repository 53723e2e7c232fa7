using BenchmarkDotNet.Attributes;
using PimQuant.Hardware.Cost;
using PimQuant.Sim;
using WeightEncoding = PimQuant.Hardware.Spec.WeightEncoding;
using PimQuant.Tests.Sim;

namespace PimQuant.Bench;

/// <summary>The plain reference (baseline) against the optimized paths at each vector width, on a layer
/// whose sizes are not multiples of any vector width (K = 301, N = 37, 23 pixels).</summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private const int K = 301, N = 37, Pixels = 23;
    private CrossbarConfig _config = null!;
    private int[] _weights = null!;
    private byte[] _activations = null!;
    private ProgrammedLayer _layer = null!;
    private readonly double[] _output = new double[Pixels * N];

    /// <summary>bwq-h (9×8 OUs, full-range step), neurosim-rram (whole-array reads, on/off 10), isaac-lossy (6-bit ADC).</summary>
    [Params("bwq-h", "neurosim-rram", "isaac-6bit-adc")]
    public string Preset { get; set; } = "bwq-h";

    [Params(SimdWidth.Auto, SimdWidth.Vector256, SimdWidth.Scalar)]
    public SimdWidth Width { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _config = CrossbarConfig.Create(Preset switch
        {
            "bwq-h" => Workloads.BwqH(AdcStep.FullRange, WeightEncoding.Offset),
            "neurosim-rram" => Workloads.NeuroSim,
            _ => Workloads.Isaac with { AdcBits = 6 },
        });
        var rng = new Random(7);
        _weights = Workloads.RandomWeights(rng, _config, K * N);
        _activations = Workloads.RandomActivations(rng, K * Pixels, 8);
        _layer = ProgrammedLayer.Program(_config, _weights, K, N);
        _layer.Run(_activations, _output, Pixels); // builds the path's tables outside the measurement
    }

    [Benchmark(Baseline = true)]
    public double[] Reference() => CrossbarReference.Run(_config, _weights, K, N, _activations, Pixels).Output;

    [Benchmark]
    public EventCounts Optimized() => _layer.Run(_activations, _output, Pixels, new SimConfiguration { SimdWidth = Width, MaxDegreeOfParallelism = 1 });
}
