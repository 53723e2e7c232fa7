using PimQuant.Engine.Graph;

namespace PimQuant.Onnx;

/// <summary>
/// An ONNX model that cannot be imported or a graph that cannot be exported. It derives from
/// <see cref="GraphException"/> so that callers handle every model problem with one catch. The
/// message is one line meant for the user: it starts with the file (or source) name and names the
/// node, operator, opset or tensor concerned.
/// </summary>
public sealed class OnnxException(string message) : GraphException(message);
