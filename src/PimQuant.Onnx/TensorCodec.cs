using System.Runtime.InteropServices;
using Google.Protobuf;
using PimQuant.Onnx.Proto;
using static TorchSharp.torch;
using DataType = PimQuant.Onnx.Proto.TensorProto.Types.DataType;

namespace PimQuant.Onnx;

/// <summary>
/// Converts between ONNX <see cref="TensorProto"/>s and torch tensors. PimQuant computes in
/// float32, so FLOAT and DOUBLE tensors become float32; INT64 and INT32 keep their type (shape
/// arithmetic and indices), as do INT8, UINT8 and INT16 (quantized weights and zero points of QDQ models).
/// UINT16 is refused: TorchSharp has no unsigned 16-bit tensor to hold it.
/// Writing always uses raw_data, the compact form every reader accepts.
/// </summary>
internal static class TensorCodec
{
    /// <summary>Reads <paramref name="proto"/> into a new tensor of the caller's dispose scope.</summary>
    /// <param name="proto">The serialized tensor.</param>
    /// <param name="name">How messages call it: the initializer or Constant output name.</param>
    /// <param name="fail">Makes the exception to throw from a message (adds the source name).</param>
    public static Tensor Read(TensorProto proto, string name, Func<string, OnnxException> fail)
    {
        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
        {
            string location = proto.ExternalData.FirstOrDefault(e => e.Key == "location")?.Value ?? "?";
            throw fail($"tensor '{name}' keeps its data in the external file '{location}', which PimQuant does not support; save the model with its weights inside the .onnx file");
        }
        if (proto.Segment is not null)
            throw fail($"tensor '{name}' is split into segments, which PimQuant does not support");

        long[] dims = [.. proto.Dims];
        if (dims.Any(d => d < 0))
            throw fail($"tensor '{name}' has a negative dimension in its shape {Format(dims)}");
        long count;
        try { count = dims.Aggregate(1L, (a, d) => checked(a * d)); }
        catch (OverflowException) { throw fail($"tensor '{name}' has a shape {Format(dims)} too large to hold"); }

        var type = (DataType)proto.DataType;
        bool raw = proto.HasRawData;
        switch (type)
        {
            case DataType.Float:
            {
                float[] values = raw ? FromRaw<float>(proto, name, count, fail) : Typed(proto.FloatData, "float_data", name, dims, count, fail);
                RequireFinite(values, dims, name, fail);
                return tensor(values, dims);
            }
            case DataType.Double:
            {
                double[] wide = raw ? FromRaw<double>(proto, name, count, fail) : Typed(proto.DoubleData, "double_data", name, dims, count, fail);
                // Converted before the check, so values beyond float32's range are reported as infinite.
                float[] values = Array.ConvertAll(wide, v => (float)v);
                RequireFinite(values, dims, name, fail);
                return tensor(values, dims);
            }
            case DataType.Int64:
                return tensor(raw ? FromRaw<long>(proto, name, count, fail) : Typed(proto.Int64Data, "int64_data", name, dims, count, fail), dims);
            case DataType.Int32:
                return tensor(raw ? FromRaw<int>(proto, name, count, fail) : Typed(proto.Int32Data, "int32_data", name, dims, count, fail), dims);
            // ONNX keeps the typed form of 8- and 16-bit integers in int32_data, one value per element.
            case DataType.Int8:
                return tensor(raw ? FromRaw<sbyte>(proto, name, count, fail) : Array.ConvertAll(Typed(proto.Int32Data, "int32_data", name, dims, count, fail), v => (sbyte)v), dims);
            case DataType.Uint8:
                return tensor(raw ? FromRaw<byte>(proto, name, count, fail) : Array.ConvertAll(Typed(proto.Int32Data, "int32_data", name, dims, count, fail), v => (byte)v), dims);
            case DataType.Int16:
                return tensor(raw ? FromRaw<short>(proto, name, count, fail) : Array.ConvertAll(Typed(proto.Int32Data, "int32_data", name, dims, count, fail), v => (short)v), dims);
            case DataType.Uint16:
                throw fail($"tensor '{name}' has element type UINT16, which PimQuant cannot hold (TorchSharp has no unsigned 16-bit tensor); INT16 codes are supported");
            default:
                throw fail($"tensor '{name}' has element type {TypeName(proto.DataType)}, which PimQuant does not support (FLOAT, DOUBLE, INT64, INT32, INT16, INT8 and UINT8 are)");
        }
    }

    /// <summary>Writes <paramref name="value"/> as a raw_data tensor named <paramref name="name"/>.</summary>
    /// <exception cref="OnnxException">The tensor's element type has no ONNX counterpart here.</exception>
    public static TensorProto Write(string name, Tensor value, string graphName)
    {
        using var scope = NewDisposeScope();
        var t = value.detach().cpu().contiguous();
        var proto = new TensorProto { Name = name };
        proto.Dims.AddRange(t.shape);
        (proto.DataType, proto.RawData) = t.dtype switch
        {
            ScalarType.Float32 => ((int)DataType.Float, ToRaw(t.data<float>().ToArray())),
            ScalarType.Float64 => ((int)DataType.Double, ToRaw(t.data<double>().ToArray())),
            ScalarType.Int64 => ((int)DataType.Int64, ToRaw(t.data<long>().ToArray())),
            ScalarType.Int32 => ((int)DataType.Int32, ToRaw(t.data<int>().ToArray())),
            // Quantized weights and zero points of QDQ models (QuantizeLinear/DequantizeLinear).
            ScalarType.Int8 => ((int)DataType.Int8, ToRaw(t.data<sbyte>().ToArray())),
            ScalarType.Byte => ((int)DataType.Uint8, ToRaw(t.data<byte>().ToArray())),
            ScalarType.Int16 => ((int)DataType.Int16, ToRaw(t.data<short>().ToArray())),
            _ => throw new OnnxException($"graph '{graphName}': tensor '{name}' has element type {t.dtype}, which cannot be exported (float32, float64, int64, int32, int16, int8 and uint8 can)"),
        };
        return proto;
    }

    /// <summary>The specification's name of an element type, or its number when unknown.</summary>
    public static string TypeName(int dataType) =>
        Enum.IsDefined((DataType)dataType) ? ((DataType)dataType).ToString().ToUpperInvariant() : $"#{dataType}";

    /// <summary>A shape as "[2, 3]".</summary>
    public static string Format(IEnumerable<long> dims) => $"[{string.Join(", ", dims)}]";

    private static T[] FromRaw<T>(TensorProto proto, string name, long count, Func<string, OnnxException> fail) where T : unmanaged
    {
        var bytes = proto.RawData.Span;
        int size = Marshal.SizeOf<T>();
        if (bytes.Length != count * size)
            throw fail($"tensor '{name}': raw_data holds {bytes.Length} bytes but shape {Format(proto.Dims)} of {TypeName(proto.DataType)} needs {count * size}");
        var values = MemoryMarshal.Cast<byte, T>(bytes).ToArray();
        // raw_data is little-endian by specification; only a big-endian host has to swap.
        if (!BitConverter.IsLittleEndian) SwapElements(MemoryMarshal.AsBytes(values.AsSpan()), size);
        return values;
    }

    private static T[] Typed<T>(IReadOnlyCollection<T> field, string fieldName, string name, long[] dims, long count, Func<string, OnnxException> fail)
    {
        if (field.Count != count)
            throw fail($"tensor '{name}': {fieldName} holds {field.Count} values but shape {Format(dims)} needs {count}");
        return [.. field];
    }

    private static ByteString ToRaw<T>(T[] values) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian) SwapElements(bytes, Marshal.SizeOf<T>());
        return ByteString.CopyFrom(bytes);
    }

    private static void SwapElements(Span<byte> bytes, int size)
    {
        for (int i = 0; i < bytes.Length; i += size) bytes.Slice(i, size).Reverse();
    }

    private static void RequireFinite(float[] values, long[] dims, string name, Func<string, OnnxException> fail)
    {
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad < 0) return;
        string what = float.IsNaN(values[bad]) ? "NaN" : "infinite";
        throw fail($"tensor '{name}' has a {what} value at index {bad} {Format(Unravel(bad, dims))}; PimQuant needs finite weights");
    }

    /// <summary>The multi-dimensional index of flat element <paramref name="flat"/> in a row-major tensor.</summary>
    private static long[] Unravel(long flat, long[] dims)
    {
        var index = new long[dims.Length];
        for (int d = dims.Length - 1; d >= 0; d--)
        {
            index[d] = flat % dims[d];
            flat /= dims[d];
        }
        return index;
    }
}
