using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using PimQuant.Engine.Execution;
using PimQuant.Onnx;
using PimQuant.Onnx.Proto;
using static TorchSharp.torch;
using DataType = PimQuant.Onnx.Proto.TensorProto.Types.DataType;

namespace PimQuant.Tests.Onnx;

/// <summary>The executor's QuantizeLinear and DequantizeLinear in their opset-21 forms, against ONNX Runtime.</summary>
public class QdqKernelOpset21Tests
{
    private static TensorProto Raw<T>(string name, DataType type, T[] values, long[] dims) where T : unmanaged
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>
    /// Int16 codes (5, 7) → DequantizeLinear blocked along axis 1 (block 3: blocks of 3, 3 and 1 columns) with int16 zero
    /// points, added to the input, then an int16 QuantizeLinear that saturates → DequantizeLinear: PimQuant's executor and
    /// ONNX Runtime give the same values.
    /// </summary>
    [Fact]
    public void BlockedAndInt16DequantizeLinearRunAsInOnnxRuntime()
    {
        Torch.Ensure();
        using var scope = NewDisposeScope();
        var b = new OnnxModelBuilder(opset: 21);
        var rng = new Random(3);
        string Init(TensorProto t) { b.Graph.Initializer.Add(t); return t.Name; }
        short[] codes = [.. Enumerable.Range(0, 35).Select(_ => (short)rng.Next(-32768, 32768))];
        float[] scales = [.. Enumerable.Range(0, 15).Select(i => 1e-3f * (1 + i))];
        short[] zeros = [.. Enumerable.Range(0, 15).Select(i => (short)(i * 1000 - 7000))];
        string w = b.Op("DequantizeLinear", [Init(Raw("w_codes", DataType.Int16, codes, [5, 7])),
            Init(OnnxModelBuilder.FloatTensor("w_scale", scales, [5, 3])), Init(Raw("w_zero", DataType.Int16, zeros, [5, 3]))],
            ("axis", 1L), ("block_size", 3L));
        string y = b.Op("Add", [b.Input("x", 5, 7), w]);
        string s = Init(OnnxModelBuilder.FloatTensor("y_scale", [0.002f], []));
        string z = Init(Raw("y_zero", DataType.Int16, new short[] { 100 }, []));
        b.Output(b.Op("DequantizeLinear", [b.Op("QuantizeLinear", [y, s, z]), s, z]));
        byte[] bytes = b.Bytes();

        var x = randn([4, 5, 7], generator: new Generator(8UL)) * 10;
        using var graph = OnnxImporter.Import(bytes, "blocked.onnx");
        using var noGrad = no_grad();
        var ours = new GraphExecutor(graph).Forward(x).data<float>().ToArray();
        using var session = new InferenceSession(bytes);
        using var input = OrtValue.CreateTensorValueFromMemory(x.data<float>().ToArray(), [4, 5, 7]);
        using var run = new RunOptions();
        using var outputs = session.Run(run, ["x"], [input], session.OutputNames);
        var theirs = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Contains(theirs, v => v == 0.002f * (32767 - 100)); // saturated at int16's top
        Assert.Equal(theirs, ours);
    }

    [Fact]
    public void Uint16TensorsAreRefusedWithTheReason()
    {
        var b = new OnnxModelBuilder(opset: 21);
        b.Graph.Initializer.Add(Raw("w_codes", DataType.Uint16, new ushort[] { 1, 2 }, [2]));
        b.Graph.Initializer.Add(OnnxModelBuilder.FloatTensor("w_scale", [0.5f], []));
        string w = b.Op("DequantizeLinear", ["w_codes", "w_scale"]);
        b.Output(b.Op("Add", [b.Input("x", 2), w]));
        var e = Assert.Throws<OnnxException>(() => OnnxImporter.Import(b.Bytes(), "u16.onnx"));
        Assert.Contains("UINT16", e.Message);
        Assert.Contains("no unsigned 16-bit tensor", e.Message);
    }
}
