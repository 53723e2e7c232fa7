using TorchSharp;

namespace PimQuant.Engine.Graph;

/// <summary>What a named tensor of the graph is for.</summary>
public enum InitializerKind
{
    /// <summary>A trainable weight (a torch parameter with gradients).</summary>
    Parameter,
    /// <summary>State updated by the forward pass in training, e.g. batch-norm running statistics.</summary>
    Buffer,
    /// <summary>A fixed value: shapes, indices, folded constants.</summary>
    Constant,
}

/// <summary>A named tensor held by the graph.</summary>
public sealed record Initializer(torch.Tensor Value, InitializerKind Kind);
