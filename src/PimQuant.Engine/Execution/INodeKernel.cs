using PimQuant.Engine.Graph;
using TorchSharp;

namespace PimQuant.Engine.Execution;

/// <summary>
/// Computes one node. The executor looks kernels up by operator type, and a caller may
/// substitute a kernel for any single node (a fake-quantized or crossbar-simulated Conv, say)
/// through <see cref="KernelOverrides"/> without touching the executor.
/// </summary>
public interface INodeKernel
{
    /// <summary>
    /// Runs <paramref name="node"/> on its inputs (null for an omitted optional input). The executor runs each kernel
    /// in its own dispose scope and keeps only the result: a tensor the kernel makes and keeps for later must be
    /// detached from that scope (<c>DetachFromDisposeScope</c>).
    /// </summary>
    torch.Tensor Run(Node node, IReadOnlyList<torch.Tensor?> inputs, ExecutionContext context);
}

/// <summary>What a kernel may know about the run it is part of.</summary>
/// <param name="Graph">The graph being executed.</param>
/// <param name="Training">Training mode: batch norm uses batch statistics and updates its buffers; dropout drops.</param>
public sealed record ExecutionContext(ModelGraph Graph, bool Training)
{
    /// <summary>Convolutions run in channels-last memory order (see <see cref="GraphExecutor.ChannelsLast"/>).</summary>
    public bool ChannelsLast { get; init; }
}

/// <summary>Chooses, per node, a kernel that replaces the standard one; null keeps the standard kernel.</summary>
public delegate INodeKernel? KernelOverrides(Node node);
