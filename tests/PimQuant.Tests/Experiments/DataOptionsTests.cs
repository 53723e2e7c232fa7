using PimQuant.Data;
using PimQuant.Experiments;
using PimQuant.Models;

namespace PimQuant.Tests.Experiments;

/// <summary>
/// The one resolver of data and preprocessing every command uses: the request's mean and std, else the model's
/// metadata, else pixels in [0,1]; the dataset likewise; lists that do not fit the images are refused by name.
/// </summary>
public class DataOptionsTests
{
    private static PimQuant.Engine.Graph.ModelGraph LeNet(bool stamped)
    {
        Torch.Ensure();
        var graph = ModelZoo.Build("lenet5", new ModelInput(1, 28), seed: 1);
        if (stamped) ModelFiles.StampPreprocessing(graph, new Normalization([0.1f], [0.2f]), "mnist");
        return graph;
    }

    [Fact]
    public void FlagsBeatTheMetadataWhichBeatsTheDefault()
    {
        using var stamped = LeNet(stamped: true);
        using var bare = LeNet(stamped: false);

        var flags = new DataOptions(Mean: [0.2860f], Std: [0.3530f]).PreprocessingFor(stamped, 1, "mnist");
        Assert.Equal(PreprocessingSource.Flags, flags.Source);
        Assert.Equal([0.2860f], flags.Normalization.Mean);
        Assert.Equal([0.3530f], flags.Normalization.Std);

        var metadata = new DataOptions().PreprocessingFor(stamped, 1, "mnist");
        Assert.Equal(PreprocessingSource.Metadata, metadata.Source);
        Assert.Equal([0.1f], metadata.Normalization.Mean);
        Assert.Equal([0.2f], metadata.Normalization.Std);

        var fallback = new DataOptions().PreprocessingFor(bare, 1, "fashion-mnist");
        Assert.Equal(PreprocessingSource.Default, fallback.Source);
        Assert.Same(Normalization.Identity, fallback.Normalization);
        Assert.Equal("default [0,1]", fallback.SourceName);

        Assert.Equal("mnist", new DataOptions().DatasetFor(stamped));
        Assert.Equal("cifar10", new DataOptions("cifar10").DatasetFor(stamped));
        Assert.Equal("fashion-mnist", new DataOptions().DatasetFor(bare));
    }

    /// <summary>A model exported by another framework (e.g. torch.onnx.export) has no PimQuant metadata: the flags alone set its normalisation.</summary>
    [Fact]
    public void FlagsNormaliseAModelWithoutMetadata()
    {
        using var bare = LeNet(stamped: false);
        var flags = new DataOptions(Mean: [0.2860f], Std: [0.3530f]).PreprocessingFor(bare, 1, "fashion-mnist");
        Assert.Equal(PreprocessingSource.Flags, flags.Source);
        Assert.Equal("flags", flags.SourceName);
        Assert.Equal([0.2860f], flags.Normalization.Mean);
        Assert.Equal([0.3530f], flags.Normalization.Std);
    }

    [Fact]
    public void ListsThatDoNotFitTheChannelsAreNamedAsTheOptionsFault()
    {
        using var graph = LeNet(stamped: false);
        var e = Assert.Throws<ExperimentException>(() => new DataOptions(Mean: [0.5f, 0.5f, 0.5f], Std: [0.25f]).PreprocessingFor(graph, 1, "fashion-mnist"));
        Assert.Equal(ExperimentErrorKind.InvalidOption, e.Kind);
        Assert.Equal("--mean 0.5,0.5,0.5: 3 values for the 1-channel images of fashion-mnist; give one value or 1", e.Message);

        var perChannel = new DataOptions(Mean: [0.49f, 0.48f, 0.45f], Std: [0.25f]).PreprocessingFor(graph, 3, "cifar10");
        Assert.True(perChannel.Normalization.Fits(3));

        var half = Assert.Throws<ExperimentException>(() => new DataOptions(Mean: [0.5f]).PreprocessingFor(graph, 1, "fashion-mnist"));
        Assert.Equal(ExperimentErrorKind.InvalidOption, half.Kind);
    }

    [Fact]
    public void MalformedMetadataIsTheFilesFault()
    {
        using var graph = LeNet(stamped: true);
        graph.Metadata[ModelFiles.StdKey] = "0.3,zero";
        var e = Assert.Throws<ExperimentException>(() => new DataOptions().PreprocessingFor(graph, 1, "mnist"));
        Assert.Equal(ExperimentErrorKind.BadInput, e.Kind);
        Assert.Contains("pimquant.std '0.3,zero'", e.Message);
    }
}
