using PimQuant.Engine.Graph;
using PimQuant.Quant.Model;
using PimQuant.Quant.Statistics;
using PimQuant.Training;

namespace PimQuant.Experiments;

/// <summary>What every quantization run (post-training or fine-tuning) measured and wrote; owns the quantized model and its graph.</summary>
public abstract class QuantizationRunResult : IDisposable
{
    /// <summary>The dataset, test images and preprocessing.</summary>
    public required ResolvedData Data { get; init; }
    /// <summary>FP32 accuracy of the model as loaded.</summary>
    public required EvaluationResult Fp32 { get; init; }
    /// <summary>Accuracy of the quantized model.</summary>
    public required EvaluationResult Quantized { get; init; }
    /// <summary>The quantized model.</summary>
    public required QuantizedModel Model { get; init; }
    /// <summary>Weight bit statistics per layer, per block and in total.</summary>
    public required (IReadOnlyList<WeightBitStatistics> Layers, IReadOnlyList<WeightBitStatistics> Blocks, WeightBitStatistics Total) Weights { get; init; }
    /// <summary>Activation digit statistics per layer, over the test split.</summary>
    public required IReadOnlyDictionary<string, ActivationStatistics> Activations { get; init; }
    /// <summary>Notes of the run's preparation and of the QDQ rewrite.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>The written file's accuracy in ONNX Runtime, when verified.</summary>
    public double? OnnxRuntimeAccuracy { get; init; }
    /// <summary>FP32 minus quantized accuracy, in percentage points: positive when quantization lost accuracy.</summary>
    public double AccuracyDropPoints => 100 * (Fp32.Accuracy - Quantized.Accuracy);

    internal ModelGraph? Graph { get; init; }

    /// <summary>Disposes the quantized model and its graph.</summary>
    public void Dispose()
    {
        Model.Dispose();
        Graph?.Dispose();
        GC.SuppressFinalize(this);
    }
}
