namespace PimQuant.Engine.Graph;

/// <summary>A typed node attribute, as ONNX defines them (the subset CNN operators use).</summary>
public abstract record AttributeValue
{
    /// <summary>A 64-bit integer attribute.</summary>
    public sealed record Int(long Value) : AttributeValue;
    /// <summary>A 32-bit float attribute.</summary>
    public sealed record Float(float Value) : AttributeValue;
    /// <summary>A string attribute.</summary>
    public sealed record Text(string Value) : AttributeValue;
    /// <summary>A list of 64-bit integers.</summary>
    public sealed record Ints(long[] Value) : AttributeValue
    {
        public bool Equals(Ints? other) => other is not null && Value.AsSpan().SequenceEqual(other.Value);
        public override int GetHashCode() => Value.Length;
    }
    /// <summary>A list of 32-bit floats.</summary>
    public sealed record Floats(float[] Value) : AttributeValue
    {
        public bool Equals(Floats? other) => other is not null && Value.AsSpan().SequenceEqual(other.Value);
        public override int GetHashCode() => Value.Length;
    }
}
