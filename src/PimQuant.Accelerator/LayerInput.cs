using System.Buffers;
using PimQuant.Sim;
using static TorchSharp.torch;

namespace PimQuant.Accelerator;

/// <summary>One batch of driven codes in managed memory (NCHW images for a Conv, N × K rows otherwise) and the
/// input vectors each convolution group reads from them.</summary>
internal sealed class LayerInput : IDisposable
{
    private readonly byte[] _codes;
    private readonly int _length, _k;

    public LayerInput(Tensor driven, int batch, int k, ConvWindow? window, byte padding)
    {
        // Channels-last codes (after a channels-last layer) become NCHW in libtorch's transposing copy.
        using var bytes = driven.to_type(ScalarType.Byte).contiguous();
        var span = bytes.bytes;
        _length = span.Length;
        _codes = ArrayPool<byte>.Shared.Rent(_length);
        span.CopyTo(_codes);
        Batch = batch; _k = k; Window = window; Padding = padding;
    }

    public int Batch { get; }
    public ConvWindow? Window { get; }
    public byte Padding { get; }
    /// <summary>Input vectors per image.</summary>
    public int Positions => Window?.Pixels ?? 1;
    public int Pixels => checked(Batch * Positions);

    /// <summary>Group <paramref name="g"/>'s vectors, pixel-major: gathered into <paramref name="buffer"/> for a
    /// Conv, the codes themselves otherwise.</summary>
    public ReadOnlyMemory<byte> Vectors(int g, byte[]? buffer, SimConfiguration configuration)
    {
        if (Window is null) return _codes.AsMemory(0, _length);
        var input = new ConvInput(_codes.AsMemory(0, _length), Batch, Window, g, Padding);
        input.Gather(buffer!, configuration);
        return buffer.AsMemory(0, Pixels * _k);
    }

    public DigitStatistics DigitStatistics(int g, ProgrammedLayer layer, SimConfiguration configuration) => Window is null
        ? Sim.DigitStatistics.Of(_codes.AsMemory(0, _length), Pixels, layer, configuration)
        : new ConvInput(_codes.AsMemory(0, _length), Batch, Window, g, Padding).CountDigits(layer, configuration);

    public void Dispose() => ArrayPool<byte>.Shared.Return(_codes);
}
