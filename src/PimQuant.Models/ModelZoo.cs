using PimQuant.Engine.Graph;

namespace PimQuant.Models;

/// <summary>What a zoo model is built for: image channels and square size (28 or 32), classes.</summary>
public sealed record ModelInput
{
    public ModelInput(int channels, int size, int classes = 10)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "zoo models take 1 or 3 input channels");
        if (size is not (28 or 32)) throw new ArgumentOutOfRangeException(nameof(size), size, "zoo models take 28×28 or 32×32 inputs");
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least 2 classes");
        (Channels, Size, Classes) = (channels, size, classes);
    }

    public int Channels { get; }
    public int Size { get; }
    public int Classes { get; }
}

/// <summary>The model zoo: CNNs of the CIM literature built as PimQuant graphs.</summary>
public static class ModelZoo
{
    /// <summary>Names accepted by <see cref="Build"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["lenet5", "vgg8", "resnet20", "mobilenetv2"];

    /// <summary>Builds a freshly initialised model.</summary>
    /// <exception cref="ArgumentException">Unknown model name.</exception>
    public static ModelGraph Build(string name, ModelInput input, long seed = 0) => name switch
    {
        "lenet5" => LeNet5(input, seed),
        "vgg8" => Vgg8(input, seed),
        "resnet20" => ResNet20(input, seed),
        "mobilenetv2" => MobileNetV2(input, seed),
        _ => throw new ArgumentException($"unknown model '{name}'; the zoo has {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; 28×28 inputs are padded to 32×32 geometry.</summary>
    public static ModelGraph LeNet5(ModelInput input, long seed)
    {
        var b = new GraphBuilder("lenet5", input.Channels, input.Size, input.Size, seed);
        string x = b.Relu(b.Conv(b.Input, input.Channels, 6, 5, padding: input.Size == 28 ? 2 : 0, bias: true));
        x = b.MaxPool(x, 2, 2);
        x = b.MaxPool(b.Relu(b.Conv(x, 6, 16, 5, bias: true)), 2, 2);
        x = b.Flatten(x);
        x = b.Relu(b.Linear(x, 16 * 5 * 5, 120));
        x = b.Relu(b.Linear(x, 120, 84));
        return b.Finish(b.Linear(x, 84, input.Classes));
    }

    /// <summary>
    /// VGG-8 in DNN+NeuroSim's shape: conv 128-128-pool-256-256-pool-512-512-pool, FC 1024, FC classes;
    /// batch norm after every convolution.
    /// </summary>
    public static ModelGraph Vgg8(ModelInput input, long seed)
    {
        var b = new GraphBuilder("vgg8", input.Channels, input.Size, input.Size, seed);
        string x = b.Input;
        int inCh = input.Channels, size = input.Size;
        foreach (int width in new[] { 128, 256, 512 })
        {
            x = b.Relu(b.BatchNorm(b.Conv(x, inCh, width, 3, padding: 1), width));
            x = b.Relu(b.BatchNorm(b.Conv(x, width, width, 3, padding: 1), width));
            x = b.MaxPool(x, 2, 2);
            inCh = width;
            size /= 2;
        }
        x = b.Flatten(x);
        x = b.Relu(b.Linear(x, 512 * size * size, 1024));
        return b.Finish(b.Linear(x, 1024, input.Classes));
    }

    /// <summary>
    /// ResNet-20 for CIFAR-size inputs (He et al. 2016, §4.2): a 16-channel stem, three stages of three
    /// basic blocks (16, 32, 64 channels), global average pooling and a linear classifier. Downsampling
    /// shortcuts are 1×1 convolutions with batch norm (option B), which map onto crossbars like any conv.
    /// </summary>
    public static ModelGraph ResNet20(ModelInput input, long seed)
    {
        var b = new GraphBuilder("resnet20", input.Channels, input.Size, input.Size, seed);
        string x = b.Relu(b.BatchNorm(b.Conv(b.Input, input.Channels, 16, 3, padding: 1), 16));
        int inCh = 16;
        foreach (var (width, firstStride) in new[] { (16, 1), (32, 2), (64, 2) })
            for (int block = 0; block < 3; block++)
            {
                int stride = block == 0 ? firstStride : 1;
                string y = b.Relu(b.BatchNorm(b.Conv(x, inCh, width, 3, stride, 1), width));
                y = b.BatchNorm(b.Conv(y, width, width, 3, 1, 1), width);
                string shortcut = stride != 1 || inCh != width ? b.BatchNorm(b.Conv(x, inCh, width, 1, stride), width) : x;
                x = b.Relu(b.Sum(y, shortcut));
                inCh = width;
            }
        x = b.Flatten(b.GlobalAveragePool(x));
        return b.Finish(b.Linear(x, 64, input.Classes));
    }

    /// <summary>
    /// MobileNetV2 (Sandler et al. 2018), width 1.0, in the common CIFAR-size variant: stem stride 1 and
    /// the second stage at stride 1, so a 32×32 input ends at 4×4. Inverted residuals with depthwise 3×3
    /// convolutions and ReLU6.
    /// </summary>
    public static ModelGraph MobileNetV2(ModelInput input, long seed)
    {
        var b = new GraphBuilder("mobilenetv2", input.Channels, input.Size, input.Size, seed);
        string x = b.Relu6(b.BatchNorm(b.Conv(b.Input, input.Channels, 32, 3, padding: 1), 32));
        int inCh = 32;
        var stages = new (int expand, int width, int repeats, int stride)[]
        {
            (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
        };
        foreach (var (expand, width, repeats, firstStride) in stages)
            for (int r = 0; r < repeats; r++)
            {
                int stride = r == 0 ? firstStride : 1;
                int hidden = inCh * expand;
                string y = x;
                if (expand != 1) y = b.Relu6(b.BatchNorm(b.Conv(y, inCh, hidden, 1), hidden));
                y = b.Relu6(b.BatchNorm(b.Conv(y, hidden, hidden, 3, stride, 1, groups: hidden), hidden));
                y = b.BatchNorm(b.Conv(y, hidden, width, 1), width);
                x = stride == 1 && inCh == width ? b.Sum(y, x) : y;
                inCh = width;
            }
        x = b.Relu6(b.BatchNorm(b.Conv(x, inCh, 1280, 1), 1280));
        x = b.Flatten(b.GlobalAveragePool(x));
        return b.Finish(b.Linear(x, 1280, input.Classes));
    }
}
