using PimQuant.Onnx.Proto;
using DataType = PimQuant.Onnx.Proto.TensorProto.Types.DataType;

namespace PimQuant.Tests.Onnx;

/// <summary>A model built in code and the per-sample shape of its single input.</summary>
internal sealed record TestModel(OnnxModelBuilder Builder, long[] SampleShape)
{
    public byte[] Bytes() => Builder.Bytes();
}

/// <summary>Small models in the styles PyTorch's ONNX exporter writes, covering every supported operator.</summary>
internal static class OnnxTestModels
{
    /// <summary>Conv + separate BatchNormalization + Relu + MaxPool + Flatten + Gemm(transB=1).</summary>
    public static TestModel ConvBn(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 11);
        var y = b.Conv(b.Input("input", 3, 8, 8), "conv1", 3, 8, 3, pad: 1);
        y = b.Op("Relu", [b.BatchNorm(y, "bn1", 8)]);
        y = b.Op("MaxPool", [y], ("ceil_mode", 0L), ("kernel_shape", new[] { 2L, 2 }), ("pads", new[] { 0L, 0, 0, 0 }), ("strides", new[] { 2L, 2 }));
        y = b.Op("Flatten", [y], ("axis", 1L));
        b.Output(b.Linear(y, "fc", 8 * 4 * 4, 10));
        b.Model.MetadataProps.Add(new StringStringEntryProto { Key = "dataset", Value = "cifar10" });
        return new TestModel(b, [3, 8, 8]);
    }

    /// <summary>Linear layers as MatMul + Add, with broadcasting Sub/Div/Mul normalisation between them.</summary>
    public static TestModel MatMulAdd(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 12);
        var y = b.Op("MatMul", [b.Input("input", 16), b.Weight("fc1.weight_t", [16, 12])]);
        y = b.Op("Add", [y, b.Weight("fc1.bias", [12], 0.1f)]);
        y = b.Op("Sub", [y, b.Weight("norm.mean", [12], 0.2f)]);
        y = b.Op("Div", [y, b.Weight("norm.std", [12], 1f, positive: true)]);
        y = b.Op("Relu", [b.Op("Mul", [y, b.Weight("norm.scale", [1], 1f, positive: true)])]);
        y = b.Op("MatMul", [y, b.Weight("fc2.weight_t", [12, 5])]);
        b.Output(b.Op("Add", [y, b.Weight("fc2.bias", [5], 0.1f)]));
        return new TestModel(b, [16]);
    }

    /// <summary>
    /// x.view(x.size(0), -1) as PyTorch exports it: Shape → Gather(0) → Unsqueeze → Concat([-1]) → Reshape;
    /// Unsqueeze takes its axes as an attribute before opset 13 and as an input from 13.
    /// </summary>
    public static TestModel ReshapeChain(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 13);
        var y = b.Op("Relu", [b.Conv(b.Input("input", 2, 6, 6), "conv", 2, 4, 3)]);
        var batch = b.Op("Gather", [b.Op("Shape", [y]), b.Constant(OnnxModelBuilder.Int64Tensor("", [0], []))], ("axis", 0L));
        var unsqueezed = opset < 13
            ? b.Op("Unsqueeze", [batch], ("axes", new[] { 0L }))
            : b.Op("Unsqueeze", [batch, b.Constant(OnnxModelBuilder.Int64Tensor("", [0], [1]))]);
        // Newer exporters write small integer constants as value_ints.
        var minusOne = opset >= 17
            ? b.Add("Constant", [], ["minus_one"], "/Constant_minus_one", ("value_ints", new[] { -1L })).Output[0]
            : b.Constant(OnnxModelBuilder.Int64Tensor("", [-1], [1]));
        var target = b.Op("Concat", [unsqueezed, minusOne], ("axis", 0L));
        b.Output(b.Linear(b.Op("Reshape", [y, target]), "fc", 4 * 4 * 4, 5));
        return new TestModel(b, [2, 6, 6]);
    }

    /// <summary>
    /// Depthwise dilated conv with asymmetric pads, ReLU6 as Clip (bounds from Constant nodes before
    /// opset 13, from initializers after), a SAME_UPPER strided conv, broadcast Add, AveragePool,
    /// Concat, Transpose, GlobalAveragePool, Dropout, Gemm, Identity and Softmax; initializers in
    /// raw_data and float_data alternately. Outputs: probabilities and logits.
    /// </summary>
    public static TestModel Mix(int opset)
    {
        var b = new OnnxModelBuilder(opset, seed: 14, TensorStyle.Alternate);
        var y = b.Op("Conv", [b.Input("input", 4, 9, 9), b.Weight("dw.weight", [4, 1, 3, 3], 2f), b.Weight("dw.bias", [4], 0.5f)],
            ("dilations", new[] { 2L, 2 }), ("group", 4L), ("kernel_shape", new[] { 3L, 3 }), ("pads", new[] { 0L, 1, 1, 2 }), ("strides", new[] { 1L, 1 }));
        string lo, hi;
        if (opset < 13)
            (lo, hi) = (b.Constant(OnnxModelBuilder.FloatTensor("", [0f], [])), b.Constant(OnnxModelBuilder.FloatTensor("", [6f], [])));
        else
        {
            b.Graph.Initializer.Add(OnnxModelBuilder.FloatTensor(lo = "relu6.min", [0f], []));
            b.Graph.Initializer.Add(OnnxModelBuilder.FloatTensor(hi = "relu6.max", [6f], [], raw: false));
        }
        y = b.Op("Clip", [y, lo, hi]);
        y = b.Op("Conv", [y, b.Weight("down.weight", [6, 4, 3, 3]), b.Weight("down.bias", [6], 0.1f)],
            ("auto_pad", "SAME_UPPER"), ("kernel_shape", new[] { 3L, 3 }), ("strides", new[] { 2L, 2 }));
        y = b.Op("Add", [y, b.Weight("shift", [6, 1, 1], 0.3f)]);
        var pooled = b.Op("AveragePool", [y], ("kernel_shape", new[] { 3L, 3 }), ("pads", new[] { 1L, 1, 1, 1 }), ("strides", new[] { 1L, 1 }));
        var cat = b.Op("Concat", [pooled, b.Op("Relu", [y])], ("axis", 1L));
        var flat = b.Op("Flatten", [b.Op("Transpose", [cat], ("perm", new[] { 0L, 1, 3, 2 }))], ("axis", 1L));
        var gap = b.Op("Flatten", [b.Op("GlobalAveragePool", [cat])], ("axis", 1L));
        var features = b.Op("Concat", [flat, gap], ("axis", 1L));
        if (opset < 12)
            features = b.Op("Dropout", [features], ("ratio", 0.3f));
        else
        {
            b.Graph.Initializer.Add(OnnxModelBuilder.FloatTensor("dropout.ratio", [0.3f], []));
            features = b.Op("Dropout", [features, "dropout.ratio"]);
        }
        var logits = b.Linear(features, "fc", 12 * 4 * 3 + 12, 10);
        // Softmax over the last axis: PyTorch writes axis=1 for a rank-2 input before opset 13.
        b.Output(b.Op("Softmax", [b.Op("Identity", [logits])], ("axis", opset < 13 ? 1L : -1L)));
        b.Output(logits);
        return new TestModel(b, [4, 9, 9]);
    }

    /// <summary>Initializers in the typed fields: DOUBLE (raw and double_data, through Cast), INT64 in int64_data, INT32 in int32_data.</summary>
    public static TestModel TypedFields()
    {
        var b = new OnnxModelBuilder(13, seed: 15);
        var rng = new Random(3);
        double[] weight = Enumerable.Range(0, 48 * 5).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var w = new TensorProto { Name = "fc.weight_t", DataType = (int)DataType.Double, Dims = { 48, 5 } };
        w.RawData = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weight.AsSpan()));
        var bias = new TensorProto { Name = "fc.bias", DataType = (int)DataType.Double, Dims = { 5 }, DoubleData = { 0.1, -0.2, 0.3, -0.4, 0.5 } };
        var indices = new TensorProto { Name = "pick", DataType = (int)DataType.Int32, Dims = { 3 }, Int32Data = { 4, 0, 2 } };
        b.Graph.Initializer.Add(w);
        b.Graph.Initializer.Add(bias);
        b.Graph.Initializer.Add(indices);
        var y = b.Op("Flatten", [b.Input("input", 3, 4, 4)], ("axis", 1L));
        y = b.Op("MatMul", [y, b.Op("Cast", ["fc.weight_t"], ("to", 1L))]);
        y = b.Op("Add", [y, b.Op("Cast", ["fc.bias"], ("to", 1L))]);
        y = b.Op("Reshape", [y, b.Int64s("shape", [0, 5, 1], 3)]);
        y = b.Op("Squeeze", [y, b.Int64s("axes", [2], 1)]);
        b.Output(b.Op("Gather", [y, "pick"], ("axis", 1L)));
        return new TestModel(b, [3, 4, 4]);
    }

    /// <summary>Conv → ReLU6 → Flatten → Gemm; the Clip bounds as opset-6 attributes when <paramref name="legacyClip"/>.</summary>
    public static TestModel Relu6(bool legacyClip)
    {
        var b = new OnnxModelBuilder(11, seed: 16);
        var y = b.Op("Conv", [b.Input("input", 2, 5, 5), b.Weight("conv.weight", [4, 2, 3, 3], 2f)], ("kernel_shape", new[] { 3L, 3 }));
        y = legacyClip
            ? b.Op("Clip", [y], ("max", 6f), ("min", 0f))
            : b.Op("Clip", [y, b.Constant(OnnxModelBuilder.FloatTensor("", [0f], [])), b.Constant(OnnxModelBuilder.FloatTensor("", [6f], []))]);
        b.Output(b.Linear(b.Op("Flatten", [y], ("axis", 1L)), "fc", 4 * 3 * 3, 3));
        return new TestModel(b, [2, 5, 5]);
    }
}
