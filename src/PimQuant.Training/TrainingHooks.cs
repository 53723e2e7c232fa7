using static TorchSharp.torch;

namespace PimQuant.Training;

/// <summary>Where training stands when a hook is called.</summary>
/// <param name="Epoch">Epoch, from 0.</param>
/// <param name="Batch">Batch within the epoch, from 0.</param>
/// <param name="Batches">Batches per epoch.</param>
public readonly record struct TrainingStep(int Epoch, int Batch, int Batches)
{
    /// <summary>Optimizer steps taken before this one over the whole run.</summary>
    public long GlobalStep => (long)Epoch * Batches + Batch;
}

/// <summary>
/// What a method adds to training without a copy of the loop: extra loss terms (e.g. BWQ's group lasso over weight
/// blocks), and actions after each optimizer step and each epoch (e.g. periodic re-quantization). A resumed run calls
/// the hooks from the checkpoint's epoch on, so a hook's effect must be a function of the step, the trained tensors and
/// the tensors it declares as <see cref="State"/> (checkpointed with the run); nothing else it keeps is.
/// </summary>
public interface ITrainingHook
{
    /// <summary>A scalar added to the batch's loss, differentiable in the trained tensors, or null for none. Called inside
    /// the batch's dispose scope, after the forward pass.</summary>
    Tensor? LossTerm(TrainingStep step) => null;

    /// <summary>After the optimizer's step, without gradient tracking: may change trained tensors in place.</summary>
    void AfterStep(TrainingStep step) { }

    /// <summary>After epoch <paramref name="epoch"/> (from 0), before its test evaluation and checkpoint.</summary>
    void AfterEpoch(int epoch) { }

    /// <summary>Tensors the hook keeps and changes that are not trained (e.g. BWQ's bit masks), by name, distinct from the
    /// graph's and the trained extra tensors' names: saved in every checkpoint and restored in place on resume.</summary>
    IReadOnlyList<(string Name, Tensor Value)> State => [];
}
